//! Docker Hub (https://docs.docker.com/reference/api/hub/latest/; docs/registries.md#docker-hub):
//! two APIs. The registry (`registry-1.docker.io`, tokens from
//! `auth.docker.io`) is the OCI data plane; the Hub API (`https://hub.docker.com`, or
//! `--docker-hub-api-url` used exactly as given) lists tags with their digests and push times and
//! removes single tags. The registry cannot delete a tag and refuses to delete a tagged manifest.
//!
//! What cleanup does here:
//! - listing: `GET /v2/namespaces/<ns>/repositories/<repo>/tags?page_size=100`, following the
//!   absolute `next` until null; no manifest reads for tags (a GET counts against the pull quota;
//!   a tag the listing gives no digest for costs one HEAD, which does not).
//! - untag: `DELETE /v2/repositories/<ns>/<repo>/tags/<tag>/` (trailing slash), 2xx or 404.
//! - whole digest: every tag on it through the Hub API, then the now untagged manifest through
//!   the registry's digest DELETE. Removing the tags alone would leave the manifest behind,
//!   untagged and invisible to later runs, still holding its index children and storage until
//!   Hub's own untagged-image retention (if the account has it) gets to it; the registry accepts
//!   the digest DELETE exactly once the manifest is untagged (403 while tagged), so both steps
//!   are needed to leave nothing behind. Index children and referrers are untagged manifests and
//!   go through the registry DELETE alone. Where the registry refuses digest deletes outright
//!   (405, as it did in the past), the tags are gone all the same: done, with a warning that the
//!   untagged manifest stays.
//! - pull quota: before the inventory spends manifest GETs (index bodies, fallback referrer
//!   indexes), one HEAD reads `ratelimit-remaining` for free; `-v` reports it when low.
//!
//! The Hub API wants a JWT from `POST /v2/auth/token` (`{identifier, secret}`, current: password,
//! personal or organisation access token) or the deprecated `POST /v2/users/login`
//! (`{username, password}`), which is tried for passwords when the first is refused or missing.
//! The JWT is cached until shortly before its `exp` and sent as `Authorization: Bearer`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::Registration;
use crate::error::{Error, Result};
use crate::implementation::{
    Capabilities, Depth, DigestDelete, HostPattern, Implementation, Probe, PullRecords,
    RepositoryListing, Spec,
};
use crate::registry::auth::Scope;
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo};
use crate::registry::host::HostConfig;
use crate::registry::media::{ACCEPT_MANIFESTS, is_index, is_manifest_type};
use crate::registry::paging::Pages;
use crate::registry::retry::parse_retry_after;
use crate::registry::transport::Request;
use crate::registry::untag::Untagged;
use crate::registry::{Listed, Listing, Pulled, Registry};
use crate::secret::{Secret, redact_url};

/// The Hub API when `--docker-hub-api-url` is not given.
pub const DEFAULT_API: &str = "https://hub.docker.com";

/// Largest page the tag listing serves (docs/registries.md#docker-hub: `page_size` ≤ 100).
const PAGE_SIZE: usize = 100;

/// Renew the JWT this long before its `exp`, so it does not die in flight.
const JWT_MARGIN: Duration = Duration::from_secs(60);

/// Hub JWTs live about 10 minutes (docs/registries.md#docker-hub); assumed when `exp` cannot be
/// read.
const JWT_DEFAULT_TTL: Duration = Duration::from_secs(600);

/// The longest one run waits for Hub API rate limits in all (werf's cap;
/// docs/registries.md#rate-limits-and-redirects).
const MAX_RATE_WAIT: Duration = Duration::from_secs(300);

/// Hub's refusal of personal access tokens (hub-feedback#2006, #2127, #2171).
const PAT_FORBIDDEN: &str = "forbidden with personal access token";

/// How the Hub API secret was given, which decides the login path and the error wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretKind {
    /// A personal or organisation access token (`--docker-hub-token`, or `dckr_pat_`/`dckr_oat_`).
    AccessToken,
    Password,
}

#[derive(Debug, Clone)]
struct HubLogin {
    username: String,
    secret: Secret,
    kind: SecretKind,
    /// Where the credentials came from, for error messages.
    origin: &'static str,
}

/// Where Hub API credentials come from, decided in [`open`](super::open) (no network).
#[derive(Debug, Clone)]
enum CredentialSource {
    /// `--docker-hub-username` with `--docker-hub-token` or `--docker-hub-password`.
    Explicit(HubLogin),
    /// `--docker-hub-token`/`--docker-hub-password` without a Hub user: the registry username.
    SecretOnly(Secret, SecretKind),
    /// The registry credentials (`--registry-username/-password` or the Docker config).
    Registry,
}

#[derive(Default)]
struct RateState {
    /// No Hub API request before this (a spent `X-RateLimit-Remaining` or a 429).
    blocked_until: Option<SystemTime>,
    /// Waited so far, against [`MAX_RATE_WAIT`].
    waited: Duration,
    /// The last wait after a 429 that named no time (doubles, from one second).
    backoff: Duration,
}

pub struct DockerHub {
    caps: Capabilities,
    oci: Distribution,
    /// The registry API host (`registry-1.docker.io`, or a loopback fake).
    host: String,
    api: Url,
    source: CredentialSource,
    login: tokio::sync::Mutex<Option<HubLogin>>,
    /// The JWT and when to renew it.
    jwt: tokio::sync::Mutex<Option<(Secret, SystemTime)>>,
    rate: Mutex<RateState>,
    /// Per repository name: tag → digest, from the last listing, kept up to date by deletions
    /// (a whole-digest delete removes every tag on the digest through the Hub API).
    tags: Mutex<HashMap<String, BTreeMap<String, String>>>,
}

impl DockerHub {
    pub fn new(
        caps: Capabilities,
        oci: Distribution,
        host: &str,
        config: &HostConfig,
    ) -> Result<DockerHub> {
        let v = &config.vendor;
        let api = match &v.docker_hub_api_url {
            Some(u) => u.clone(),
            None => Url::parse(DEFAULT_API).expect("static URL"),
        };
        let secret = match (&v.docker_hub_token, &v.docker_hub_password) {
            (Some(t), _) => Some((t.clone(), SecretKind::AccessToken)),
            (None, Some(p)) => Some((p.clone(), SecretKind::Password)),
            (None, None) => None,
        };
        let source = match (&v.docker_hub_username, secret) {
            (Some(u), Some((secret, kind))) => CredentialSource::Explicit(HubLogin {
                username: u.clone(),
                secret,
                kind,
                origin: match kind {
                    SecretKind::AccessToken => "--docker-hub-token",
                    SecretKind::Password => "--docker-hub-password",
                },
            }),
            (None, Some((s, kind))) => CredentialSource::SecretOnly(s, kind),
            (Some(_), None) => {
                return Err(Error::input(
                    "--docker-hub-username is given without --docker-hub-token or --docker-hub-password",
                )
                .with_hint(
                    "add --docker-hub-token (a personal access token with Read, Write & Delete)",
                ));
            }
            (None, None) => CredentialSource::Registry,
        };
        // The Hub account is the registry account: without --registry-username, the Hub login
        // given on the command line is also the registry login (a publish needs one to push).
        // It wins over the Docker config, which is ambient, as an explicit option should.
        if let (CredentialSource::Explicit(login), false) =
            (&source, config.registry_credential_given)
        {
            oci.transport().set_credential(
                host,
                Credential::basic(login.username.clone(), login.secret.expose()),
            );
        }
        Ok(DockerHub {
            caps,
            oci,
            host: host.to_string(),
            api,
            source,
            login: tokio::sync::Mutex::new(None),
            jwt: tokio::sync::Mutex::new(None),
            rate: Mutex::new(RateState::default()),
            tags: Mutex::new(HashMap::new()),
        })
    }

    /// `<api>/<path>`, the API base used exactly as given (a path prefix stays).
    fn api_url(&self, path: &str) -> Result<Url> {
        let s = format!("{}/{path}", self.api.as_str().trim_end_matches('/'));
        Url::parse(&s).map_err(|e| Error::input(format!("invalid Docker Hub API URL {s:?}: {e}")))
    }

    /// The Hub API credentials, resolved once (the registry credential may come from a helper).
    async fn credentials(&self) -> Result<HubLogin> {
        let mut cached = self.login.lock().await;
        if let Some(l) = cached.as_ref() {
            return Ok(l.clone());
        }
        let registry = self.oci.transport().credential(&self.host).await?;
        let login = match (&self.source, registry) {
            (CredentialSource::Explicit(l), _) => l.clone(),
            (CredentialSource::SecretOnly(s, kind), Some(Credential::Basic { username, .. })) => {
                HubLogin {
                    username,
                    secret: s.clone(),
                    kind: *kind,
                    origin: match kind {
                        SecretKind::AccessToken => "--docker-hub-token",
                        SecretKind::Password => "--docker-hub-password",
                    },
                }
            }
            (CredentialSource::SecretOnly(..), _) => {
                return Err(Error::input(
                    "--docker-hub-token/--docker-hub-password is given without a Docker Hub user",
                )
                .with_hint("add --docker-hub-username"));
            }
            (CredentialSource::Registry, Some(Credential::Basic { username, password })) => {
                let kind = if looks_like_access_token(password.expose()) {
                    SecretKind::AccessToken
                } else {
                    SecretKind::Password
                };
                HubLogin {
                    username,
                    secret: password,
                    kind,
                    origin: "the registry credentials",
                }
            }
            (CredentialSource::Registry, Some(Credential::IdentityToken { .. })) => {
                return Err(Error::input(
                    "the Docker config holds an identity token for Docker Hub, which the Hub API does not take",
                )
                .with_hint("give --docker-hub-username and --docker-hub-token (a personal access token with Read, Write & Delete)"));
            }
            (CredentialSource::Registry, None) => {
                return Err(Error::input(
                    "Docker Hub cleanup needs Hub API credentials, and none are configured",
                )
                .with_hint("give --docker-hub-username and --docker-hub-token (a personal access token with Read, Write & Delete), or --registry-username/--registry-password, or docker login"));
            }
        };
        *cached = Some(login.clone());
        Ok(login)
    }

    /// A live JWT: the cached one unless it is near expiry, else a new login.
    async fn jwt(&self, renew: bool) -> Result<Secret> {
        let mut cached = self.jwt.lock().await;
        if !renew
            && let Some((token, renew_at)) = cached.as_ref()
            && SystemTime::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let token = self.login().await?;
        let expires =
            jwt_expiry(token.expose()).unwrap_or_else(|| SystemTime::now() + JWT_DEFAULT_TTL);
        let renew_at = expires
            .checked_sub(JWT_MARGIN)
            .unwrap_or(expires)
            .max(SystemTime::now());
        *cached = Some((token.clone(), renew_at));
        Ok(token)
    }

    /// Logs in to the Hub API: the current endpoint, then the deprecated one for passwords.
    async fn login(&self) -> Result<Secret> {
        let who = self.credentials().await?;
        let api_host = crate::registry::transport::host_port(&self.api);
        if self.api.scheme() != "https" && !self.oci.transport().is_insecure(&api_host) {
            return Err(Error::input(format!(
                "--docker-hub-api-url {} is not HTTPS; dockhand does not send Docker Hub credentials over plain HTTP",
                redact_url(&self.api)
            ))
            .with_hint(format!("use https://, or add --insecure-registry {api_host} if that is intended")));
        }
        let url = self.api_url("v2/auth/token")?;
        let body = serde_json::json!({"identifier": who.username, "secret": who.secret.expose()});
        let resp = self.send(Method::POST, url, Some(&body)).await?;
        let status = resp.status();
        if status.is_success() {
            let r: LoginReply = json(resp, "Docker Hub login").await?;
            return r
                .access_token
                .or(r.token)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .ok_or_else(|| Error::operation("Docker Hub login answered without a token"));
        }
        // The deprecated endpoint where the current one is missing, or refuses a password.
        let missing = matches!(status.as_u16(), 404 | 405 | 410 | 501);
        let refused = matches!(status.as_u16(), 401 | 403);
        if !(missing || refused && who.kind == SecretKind::Password) {
            return Err(self.login_error(&who, status, &text(resp).await));
        }
        crate::log::verbose(&format!(
            "Docker Hub POST /v2/auth/token answered HTTP {}; trying /v2/users/login",
            status.as_u16()
        ));
        let url = self.api_url("v2/users/login")?;
        let body = serde_json::json!({"username": who.username, "password": who.secret.expose()});
        let resp = self.send(Method::POST, url, Some(&body)).await?;
        let status = resp.status();
        if status.is_success() {
            let r: LoginReply = json(resp, "Docker Hub login").await?;
            return r
                .token
                .or(r.access_token)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .ok_or_else(|| Error::operation("Docker Hub login answered without a token"));
        }
        let detail = text(resp).await;
        if status == StatusCode::UNAUTHORIZED
            && serde_json::from_str::<LoginReply>(&detail)
                .ok()
                .and_then(|r| r.login_2fa_token)
                .is_some()
        {
            return Err(Error::auth(format!(
                "Docker Hub user {:?} has two-factor authentication, so a password cannot log in to the Hub API",
                who.username
            ))
            .with_hint("create a personal access token with Read, Write & Delete (Account settings → Personal access tokens) and pass it as --docker-hub-token"));
        }
        Err(self.login_error(&who, status, &detail))
    }

    fn login_error(&self, who: &HubLogin, status: StatusCode, detail: &str) -> Error {
        let what = match who.kind {
            SecretKind::AccessToken => "access token",
            SecretKind::Password => "password",
        };
        let detail = hub_detail(detail);
        if matches!(status.as_u16(), 401 | 403) {
            return Error::auth(format!(
                "Docker Hub rejected the {what} of user {:?} (from {}): bad credentials (HTTP {}{detail})",
                who.username,
                who.origin,
                status.as_u16()
            ))
            .with_hint("check the username and the token or password; a personal access token may have expired or been revoked");
        }
        Error::operation(format!(
            "Docker Hub login at {} failed with HTTP {}{detail}",
            redact_url(&self.api),
            status.as_u16()
        ))
    }

    /// One Hub API request with the JWT; a 401 renews the JWT once. The JWT is looked up again
    /// after each rate-limit wait, which may have outlived it.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
        let mut renewed = false;
        loop {
            // Wait first: the wait may outlive the JWT.
            self.wait_for_rate_limit().await?;
            let jwt = self.jwt(renewed).await?;
            let Some(resp) = self
                .send_once(method.clone(), url.clone(), body, Some(&jwt))
                .await?
            else {
                continue;
            };
            if resp.status() == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// A Hub API request without the JWT (the logins), rate limits waited out.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
        loop {
            if let Some(resp) = self
                .send_once(method.clone(), url.clone(), body, None)
                .await?
            {
                return Ok(resp);
            }
        }
    }

    /// Sends one Hub API request after waiting out the Hub's rate limits: a spent
    /// `X-RateLimit-Remaining` until `X-RateLimit-Reset`, a 429 until `X-Retry-After` (both unix
    /// times, https://docs.docker.com/reference/api/hub/latest/), all waits of the run together
    /// capped. `None`: it was
    /// refused with a 429, send it again (the wait happens first).
    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        jwt: Option<&Secret>,
    ) -> Result<Option<reqwest::Response>> {
        self.wait_for_rate_limit().await?;
        let mut req = Request::new(method.clone(), url.clone()).header(ACCEPT, "application/json");
        req.registry_auth = false;
        req.own_rate_limits = true;
        if let Some(jwt) = jwt {
            let v = crate::registry::transport::bearer_value(jwt).ok_or_else(|| {
                Error::operation("Docker Hub issued a token not fit for a header")
            })?;
            req.headers.insert(AUTHORIZATION, v);
        }
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(
                crate::registry::distribution::bytes_body(
                    serde_json::to_vec(b).unwrap_or_default(),
                ),
            );
            // A login can be sent again whole.
            req.replay_on_connection_error = true;
        }
        let resp = self.oci.transport().send(req).await?;
        let now = SystemTime::now();
        let h = &resp.headers().clone();
        if let Some(remaining) = header_u64(h, "x-ratelimit-remaining") {
            let reset = header_u64(h, "x-ratelimit-reset").map(unix_time);
            if remaining == 0
                && let Some(reset) = reset
            {
                crate::log::verbose(&format!(
                    "Docker Hub API rate limit spent; next request after {}",
                    humantime::format_rfc3339_seconds(reset)
                ));
                self.block_until(reset);
            } else if header_u64(h, "x-ratelimit-limit").is_some_and(|l| remaining * 10 < l) {
                crate::log::verbose(&format!(
                    "Docker Hub API rate limit low: {remaining} request(s) left"
                ));
            }
        }
        if resp.status() != StatusCode::TOO_MANY_REQUESTS {
            self.rate.lock().unwrap_or_else(|p| p.into_inner()).backoff = Duration::ZERO;
            return Ok(Some(resp));
        }
        let until = header_u64(h, "x-retry-after")
            .map(unix_time)
            .or_else(|| {
                h.get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now))
                    .map(|d| now + d)
            })
            .unwrap_or_else(|| {
                // No header at all: back off, doubling from one second.
                let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
                rate.backoff =
                    (rate.backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                now + rate.backoff
            });
        crate::log::verbose(&format!(
            "Docker Hub API answered 429 to {method} {}; waiting until {}",
            redact_url(&url),
            humantime::format_rfc3339_seconds(until)
        ));
        self.block_until(until.max(now + Duration::from_millis(100)));
        Ok(None)
    }

    fn block_until(&self, t: SystemTime) {
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        rate.blocked_until = Some(rate.blocked_until.map_or(t, |b| b.max(t)));
    }

    async fn wait_for_rate_limit(&self) -> Result<()> {
        let wait = {
            let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
            let Some(until) = rate.blocked_until else {
                return Ok(());
            };
            let Ok(wait) = until.duration_since(SystemTime::now()) else {
                rate.blocked_until = None;
                return Ok(());
            };
            if rate.waited + wait > MAX_RATE_WAIT {
                return Err(Error::operation(format!(
                    "Docker Hub API rate limit: requests are refused until {}, longer than dockhand waits ({} s in all)",
                    humantime::format_rfc3339_seconds(until),
                    MAX_RATE_WAIT.as_secs()
                ))
                .with_hint("run again later; what is left undone is done then"));
            }
            rate.waited += wait;
            wait
        };
        let api = crate::registry::transport::host_port(&self.api);
        self.oci.transport().wait(&api, wait, "X-Retry-After").await
    }

    /// Turns a failed Hub API answer into an error that says what to do.
    async fn api_error(&self, resp: reqwest::Response, what: &str) -> Error {
        let status = resp.status();
        let body = text(resp).await;
        let detail = hub_detail(&body);
        match status.as_u16() {
            403 if body.to_ascii_lowercase().contains(PAT_FORBIDDEN) => Error::auth(format!(
                "Docker Hub refused to {what} with a personal access token (HTTP 403){detail}"
            ))
            .with_hint("use a personal access token with the Read, Write & Delete scope (repo:admin), or the account password (--docker-hub-password; only without two-factor authentication)"),
            401 => {
                let who = self
                    .credentials()
                    .await
                    .map(|w| format!(" of user {:?}", w.username))
                    .unwrap_or_default();
                Error::auth(format!(
                    "Docker Hub refused to {what}: the login{who} was not accepted (HTTP 401){detail}"
                ))
                .with_hint("check the Docker Hub username and token (--docker-hub-username, --docker-hub-token)")
            }
            403 => Error::auth(format!(
                "Docker Hub denied permission to {what} (HTTP 403){detail}"
            ))
            .with_hint("deleting tags needs admin rights on the repository: the owner, an organisation team with Admin permission, or a personal access token with Read, Write & Delete (repo:admin)"),
            _ => Error::operation(format!("Docker Hub could not {what} (HTTP {}){detail}", status.as_u16())),
        }
    }

    /// `namespace` and `repository` of a Hub repository name (exactly two components).
    fn split<'r>(&self, repo: &'r Repo) -> Result<(&'r str, &'r str)> {
        match repo.name.split_once('/') {
            Some((ns, r)) if !ns.is_empty() && !r.is_empty() && !r.contains('/') => Ok((ns, r)),
            _ => Err(Error::input(format!(
                "{repo}: Docker Hub repositories are NAMESPACE/REPOSITORY, without nesting"
            ))),
        }
    }

    /// Every tag of a repository from the Hub API, all pages. A missing repository is empty.
    async fn hub_tags(&self, repo: &Repo) -> Result<Vec<HubTag>> {
        let (ns, name) = self.split(repo)?;
        let mut url = self.api_url(&format!("v2/namespaces/{ns}/repositories/{name}/tags"))?;
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string());
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("the Docker Hub tag listing of {ns}/{name}"));
        loop {
            pages.visit_url(&url)?;
            let resp = self.call(Method::GET, url.clone(), None).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            if !resp.status().is_success() {
                return Err(self
                    .api_error(resp, &format!("list the tags of {ns}/{name}"))
                    .await);
            }
            let page: TagPage = json(resp, "Docker Hub tag listing").await?;
            out.extend(page.results);
            match self.next_page(page.next)? {
                None => return Ok(out),
                Some(next) => url = next,
            }
        }
    }

    /// A listing's `next` page: absent or empty is the end; elsewhere than the API is refused,
    /// since the JWT goes only where the API lives.
    fn next_page(&self, next: Option<String>) -> Result<Option<Url>> {
        let Some(next) = next.filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let next = Url::parse(&next).map_err(|e| {
            Error::operation(format!(
                "Docker Hub gave an invalid next page {next:?}: {e}"
            ))
        })?;
        if next.origin() != self.api.origin() {
            return Err(Error::operation(format!(
                "Docker Hub's next page {} is not on {}",
                redact_url(&next),
                redact_url(&self.api)
            )));
        }
        Ok(Some(next))
    }

    /// The repositories of a namespace from the Hub API
    /// (`GET /v2/namespaces/{ns}/repositories`, docs.docker.com/reference/api/hub/latest,
    /// "List repositories"), following `next` on the API's origin; as `ns/name`.
    async fn namespace_repositories(&self, ns: &str) -> Result<Vec<String>> {
        let mut url = self.api_url(&format!("v2/namespaces/{ns}/repositories"))?;
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string());
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("the Docker Hub repository list of {ns}"));
        loop {
            pages.visit_url(&url)?;
            let resp = self.call(Method::GET, url.clone(), None).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(Error::input(format!(
                    "Docker Hub has no namespace {ns:?} visible to these credentials"
                ))
                .with_hint("check the namespace in the images repo (docker.io/NAMESPACE)"));
            }
            if !resp.status().is_success() {
                return Err(self
                    .api_error(resp, &format!("list the repositories of {ns}"))
                    .await);
            }
            let page: RepositoryPage = json(resp, "Docker Hub repository listing").await?;
            out.extend(page.results.into_iter().map(|r| format!("{ns}/{}", r.name)));
            match self.next_page(page.next)? {
                None => return Ok(out),
                Some(next) => url = next,
            }
        }
    }

    /// The tag → digest map of a repository: the last listing, or a new one.
    async fn known_tags(&self, repo: &Repo) -> Result<BTreeMap<String, String>> {
        if let Some(t) = self.cached_tags(repo) {
            return Ok(t);
        }
        let listing = self.listing_of(repo).await?;
        Ok(listing.tags)
    }

    fn cached_tags(&self, repo: &Repo) -> Option<BTreeMap<String, String>> {
        self.tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&repo.name)
            .cloned()
    }

    fn forget_tag(&self, repo: &Repo, tag: &str) {
        if let Some(t) = self
            .tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&repo.name)
        {
            t.remove(tag);
        }
    }

    async fn listing_of(&self, repo: &Repo) -> Result<Listing> {
        let hub = self.hub_tags(repo).await?;
        let mut listing = Listing::default();
        let mut undigested = Vec::new();
        for t in hub {
            let pushed = t
                .tag_last_pushed
                .as_deref()
                .or(t.last_updated.as_deref())
                .and_then(crate::registry::rest::parse_time);
            // Hub records every pull of a tag: no time is "never pulled".
            let pulled = match t
                .tag_last_pulled
                .as_deref()
                .and_then(crate::registry::rest::parse_time)
            {
                Some(at) => Pulled::At(at),
                None => Pulled::Never,
            };
            let Some(digest) = t.digest.filter(|d| d.contains(':')) else {
                undigested.push((t.name, pushed, pulled));
                continue;
            };
            let media_type = t.media_type.filter(|m| is_manifest_type(m));
            listing.tags.insert(t.name, digest.clone());
            let entry = listing
                .manifests
                .entry(digest)
                .or_insert_with(Listed::default);
            if entry.media_type.is_none() {
                entry.media_type = media_type;
            }
            // Several tags on one digest: the latest push, so an age rule never takes an image
            // somebody just pushed again for older than it is.
            entry.pushed = entry.pushed.max(pushed);
            entry.pulled = entry.pulled.latest(pulled);
        }
        // A tag the listing gives no digest for: one HEAD (free of the pull quota) each.
        type Head = (
            (String, Option<SystemTime>, Pulled),
            Result<Option<crate::registry::media::Descriptor>>,
        );
        let heads: Vec<Head> = futures_util::stream::iter(undigested)
            .map(|(t, pushed, pulled)| async move {
                let r = self.oci.head_manifest(repo, &t).await;
                ((t, pushed, pulled), r)
            })
            .buffer_unordered(self.caps.default_concurrency)
            .collect()
            .await;
        for ((tag, pushed, pulled), head) in heads {
            if let Some(d) = head? {
                listing.tags.insert(tag, d.digest.clone());
                let entry = listing.manifests.entry(d.digest).or_default();
                entry.media_type.get_or_insert(d.media_type);
                entry.pushed = entry.pushed.max(pushed);
                entry.pulled = entry.pulled.latest(pulled);
            }
        }
        self.tags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.name.clone(), listing.tags.clone());
        Ok(listing)
    }

    /// Reads the registry's pull quota with a HEAD (which does not count) when the inventory
    /// will spend manifest GETs (index bodies, fallback referrer indexes), and says so when it is low.
    async fn note_pull_quota(&self, repo: &Repo, listing: &Listing) {
        let gets = listing
            .manifests
            .values()
            .filter(|l| l.media_type.as_deref().is_some_and(is_index))
            .count()
            + listing
                .tags
                .keys()
                .filter(|t| t.starts_with("sha256-"))
                .count();
        let Some(tag) = listing.tags.keys().next() else {
            return;
        };
        if gets == 0 {
            return;
        }
        let Ok(url) = self.registry_url(repo, &format!("manifests/{tag}")).await else {
            return;
        };
        let req = Request::new(Method::HEAD, url)
            .header(ACCEPT, ACCEPT_MANIFESTS)
            .scope(Scope::repository(&repo.name, &["pull"]));
        if let Ok(resp) = self.oci.transport().send(req).await {
            note_registry_quota(resp.headers(), gets);
        }
    }

    async fn registry_url(&self, repo: &Repo, tail: &str) -> Result<Url> {
        let base = self.oci.transport().base_url(&repo.host).await?;
        Url::parse(&format!("{base}v2/{}/{tail}", repo.name))
            .map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))
    }

    /// `DELETE /v2/repositories/<ns>/<repo>/tags/<tag>/` (trailing slash): 2xx, or 404 when gone.
    async fn delete_tag(&self, repo: &Repo, tag: &str) -> Result<Deleted> {
        let (ns, name) = self.split(repo)?;
        let url = self.api_url(&format!("v2/repositories/{ns}/{name}/tags/{tag}/"))?;
        let resp = self.call(Method::DELETE, url, None).await?;
        let status = resp.status();
        let out = if status.is_success() {
            Deleted::Done
        } else if status == StatusCode::NOT_FOUND {
            Deleted::NotFound
        } else {
            return Err(self
                .api_error(resp, &format!("delete tag {ns}/{name}:{tag}"))
                .await);
        };
        self.forget_tag(repo, tag);
        Ok(out)
    }

    /// The registry's digest DELETE, for untagged manifests (403 while tagged;
    /// docs/registries.md#docker-hub).
    async fn delete_untagged(&self, repo: &Repo, digest: &str) -> Result<Deleted> {
        let url = self
            .registry_url(repo, &format!("manifests/{digest}"))
            .await?;
        let req = Request::new(Method::DELETE, url.clone())
            .scope(Scope::repository(&repo.name, &["delete"]));
        let resp = self.oci.transport().send(req).await?;
        note_registry_quota(resp.headers(), 0);
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(Deleted::Done),
            404 => Ok(Deleted::NotFound),
            400 | 405 => Ok(Deleted::Unsupported {
                status,
                code: error_code(&text(resp).await),
            }),
            403 => {
                let detail = text(resp).await;
                let still_tagged = self
                    .hub_tags(repo)
                    .await
                    .map(|t| t.iter().any(|t| t.digest.as_deref() == Some(digest)))
                    .unwrap_or(false);
                if still_tagged {
                    Err(Error::operation(format!(
                        "{repo}@{digest} is tagged again (a push since the listing?): Docker Hub deletes only untagged manifests"
                    )))
                } else {
                    Err(Error::auth(format!(
                        "Docker Hub's registry denied deleting {repo}@{digest} (HTTP 403){}",
                        hub_detail(&detail)
                    ))
                    .with_hint("the registry credentials need delete rights on the repository (the owner, or an Admin team member; a personal access token with Read, Write & Delete)"))
                }
            }
            _ => Err(
                crate::registry::distribution::check(resp, "delete manifest", &url)
                    .await
                    .err()
                    .unwrap_or_else(|| Error::operation("unexpected status")),
            ),
        }
    }
}

impl Registry for DockerHub {
    crate::registry::registry_accessors!();

    crate::registry::registry_call!(listing, self, |repo, _timed| async move {
        // The Hub listing has push times for every tag anyway: nothing to save by `timed`.
        let listing = self.listing_of(repo).await?;
        self.note_pull_quota(repo, &listing).await;
        Ok(Some(listing))
    });

    // The registry refuses the catalog; the Hub API lists a namespace.
    crate::registry::registry_call!(repositories, self, |_host, under| async move {
        let ns = under.split('/').next().unwrap_or_default();
        if ns.is_empty() {
            return Err(Error::input(
                "--all-repositories on Docker Hub needs the namespace in the images repo",
            )
            .with_hint("use --images-repo docker.io/NAMESPACE"));
        }
        Ok(crate::registry::repositories_under(
            self.namespace_repositories(ns).await?,
            under,
        ))
    });

    crate::registry::registry_call!(delete_digest, self, |repo, digest| async move {
        let tags: Vec<String> = self
            .known_tags(repo)
            .await?
            .into_iter()
            .filter(|(_, d)| d == digest)
            .map(|(t, _)| t)
            .collect();
        for t in &tags {
            self.delete_tag(repo, t).await?;
        }
        match self.delete_untagged(repo, digest).await? {
            // The tags were what made it an image; the registry keeps the untagged manifest
            // where it refuses digest deletes (historically 405): say so, it is not a failure.
            Deleted::Unsupported { status, .. } if !tags.is_empty() => {
                crate::log::warn(&format!(
                    "{repo}@{digest}: its tags are deleted; Docker Hub's registry refused to delete the untagged manifest (HTTP {status}), so it stays until Hub removes untagged images"
                ));
                Ok(Deleted::Done)
            }
            other => Ok(other),
        }
    });

    crate::registry::registry_call!(untag, self, |repo, tag, _tag_delete_works| async move {
        let u = match self.delete_tag(repo, tag).await? {
            Deleted::NotFound => Untagged::Absent,
            _ => Untagged::Native,
        };
        Ok((u, true))
    });
}

#[derive(Debug, Deserialize)]
struct LoginReply {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    login_2fa_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RepositoryPage {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    results: Vec<HubRepository>,
}

#[derive(Debug, Deserialize)]
struct HubRepository {
    name: String,
}

#[derive(Debug, Deserialize)]
struct TagPage {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    results: Vec<HubTag>,
}

/// One tag of the Hub listing (docs/registries.md#docker-hub; `digest` and `media_type` as live
/// replies have them, either may be missing).
#[derive(Debug, Deserialize)]
struct HubTag {
    name: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default)]
    tag_last_pushed: Option<String>,
    /// When the tag was last pulled; `null` when never (Hub API, "List repository tags").
    #[serde(default)]
    tag_last_pulled: Option<String>,
}

/// Personal (`dckr_pat_`) and organisation (`dckr_oat_`) access tokens look like this.
fn looks_like_access_token(secret: &str) -> bool {
    secret.starts_with("dckr_pat_") || secret.starts_with("dckr_oat_")
}

/// The `exp` of a JWT (not verified: only to know when to renew it).
fn jwt_expiry(token: &str) -> Option<SystemTime> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_u64().map(unix_time)
}

fn unix_time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    let v = h.get(name)?.to_str().ok()?;
    // `ratelimit-remaining: 76;w=21600`: the number comes first.
    v.split(';').next()?.trim().parse().ok()
}

/// Notes the registry's `ratelimit-remaining` (only manifest GETs count against it); `gets` is
/// how many this run is about to spend (0: just report a low quota).
fn note_registry_quota(h: &HeaderMap, gets: usize) {
    let Some(remaining) = header_u64(h, "ratelimit-remaining") else {
        return;
    };
    let limit = header_u64(h, "ratelimit-limit");
    let low = (remaining as usize) < gets || limit.is_some_and(|l| remaining * 10 < l);
    if low {
        crate::log::verbose(&format!(
            "Docker Hub pull quota low: {remaining} manifest GET(s) left{}, about {gets} needed",
            limit.map(|l| format!(" of {l}")).unwrap_or_default()
        ));
    } else {
        crate::log::debug(&format!("Docker Hub pull quota: {remaining} left"));
    }
}

async fn text(resp: reqwest::Response) -> String {
    resp.text().await.unwrap_or_default()
}

async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response, what: &str) -> Result<T> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::operation(format!("reading the {what} reply: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::operation(format!(
            "the {what} reply is not what Docker Hub sends: {e}"
        ))
    })
}

/// `: <detail>` from a Hub API error body (`{"detail": …}` or `{"message": …}`), or nothing.
fn hub_detail(body: &str) -> String {
    use crate::registry::rest::{HubError, VendorError};
    let msg = HubError::detail(body);
    if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    }
}

fn error_code(body: &str) -> Option<String> {
    crate::registry::rest::OciError::first(body).and_then(|e| e.code)
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const DockerHub: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "dockerhub",
    title: "Docker Hub",
    help: "Docker Hub",
    aliases: &["docker-hub", "hub"],
    capabilities: |_, common| Capabilities {
        depth: Depth {
            min: 2,
            max: Some(2),
        },
        digest_delete: DigestDelete::RefusedWhileTagged,
        get_counts_as_pull: true,
        default_concurrency: 4,
        referrers_fallback_only: true,
        ui_lists_every_tag: true,
        // `tag_last_pulled` per tag; the tag list names no untagged manifest.
        pull_records: PullRecords::PerPull,
        repository_listing: RepositoryListing::VendorApi,
        ..common
    },
    hosts: &[HostPattern {
        regex: r"^(docker\.io|index\.docker\.io|registry-1\.docker\.io|registry\.hub\.docker\.com)$",
        what: "Docker Hub",
        example: "docker.io",
    }],
    unprobed_prefix: None,
    probe: Probe::NONE,
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::DockerHub,
    open: |caps, oci, host, config| {
        Box::pin(async move {
            Ok(Box::new(DockerHub::new(caps, oci, host, config)?) as Box<dyn Registry>)
        })
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_are_told_from_passwords() {
        assert!(looks_like_access_token("dckr_pat_abc"));
        assert!(looks_like_access_token("dckr_oat_abc"));
        assert!(!looks_like_access_token("hunter2"));
    }

    #[test]
    fn jwt_expiry_is_read_from_the_payload() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"none"}"#),
            enc(r#"{"exp":2000000000}"#)
        );
        assert_eq!(jwt_expiry(&token), Some(unix_time(2_000_000_000)));
        assert_eq!(jwt_expiry("opaque"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }

    #[test]
    fn numeric_headers_with_windows() {
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", "76;w=21600".parse().unwrap());
        h.insert("x-retry-after", "1700000000".parse().unwrap());
        assert_eq!(header_u64(&h, "ratelimit-remaining"), Some(76));
        assert_eq!(header_u64(&h, "x-retry-after"), Some(1_700_000_000));
        assert_eq!(header_u64(&h, "missing"), None);
    }

    #[test]
    fn hub_error_details() {
        assert_eq!(
            hub_detail(
                r#"{"detail":"access to the resource is forbidden with personal access token"}"#
            ),
            ": access to the resource is forbidden with personal access token"
        );
        assert_eq!(hub_detail(r#"{"message":"nope"}"#), ": nope");
        assert_eq!(hub_detail(""), "");
    }

    #[test]
    fn tag_pages_parse_with_missing_fields() {
        let page: TagPage = serde_json::from_str(
            r#"{"count":2,"next":null,"previous":null,"results":[
                {"name":"a","digest":"sha256:1","media_type":"application/vnd.oci.image.index.v1+json",
                 "last_updated":"2024-05-01T12:00:00.123456Z","tag_last_pushed":"2024-05-01T12:00:00.123456Z",
                 "tag_last_pulled":null,"images":[]},
                {"name":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(page.results.len(), 2);
        assert_eq!(page.results[0].digest.as_deref(), Some("sha256:1"));
        assert!(page.results[1].digest.is_none());
        assert!(page.next.is_none());
    }
}
