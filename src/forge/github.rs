//! Branches and tags of a GitHub repository, read through the GraphQL API.
//!
//! One query document (`github_refs.graphql`, checked against the hand-written subset of GitHub's
//! schema in `github_schema.graphql` at compile time) asks for one page of the refs under one
//! prefix. It runs for `refs/heads/` and then for `refs/tags/`, 100 refs a page, following
//! `endCursor` until `hasNextPage` is false: a repository with 230 branches and 3 tags costs
//! 3 + 1 requests. The requests go one after another, as GitHub asks of API clients to stay
//! clear of its secondary rate limit.
//!
//! Asking for both prefixes in one document (two aliased `refs` fields) would save one request
//! while both lists still have pages, but continuing only the longer list then needs an
//! `@include` flag per list and a cursor per list; the saving is one request per cleanup run, so
//! the plain form won.

use std::collections::BTreeSet;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use graphql_client::GraphQLQuery;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::sync::Semaphore;
use url::Url;

use crate::cleanup::model::GitRefs;
use crate::error::{Error, Kind, Result};
use crate::registry::paging::Pages;
use crate::registry::rest::{MessageError, VendorError, excerpt};
use crate::registry::transport::{Body, Request, Transport};
use crate::secret::{Secret, redact_url, scrub};

/// Refs per page: the most GitHub serves on one connection page.
const PAGE_SIZE: i64 = 100;

const SCOPE_HINT: &str = "the GitHub token needs read access to the repository's contents: \
    `contents: read` for a fine-grained token or a GitHub App, the `repo` scope for a classic \
    token (`public_repo` is not enough for private repositories); GitHub reports a repository \
    the token cannot see as NOT_FOUND, so also check the owner and repository name";

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "src/forge/github_schema.graphql",
    query_path = "src/forge/github_refs.graphql",
    response_derives = "Debug"
)]
pub struct RepositoryRefs;

/// The GraphQL reply as GitHub shapes it: its errors carry a top-level `type` (`NOT_FOUND`,
/// `FORBIDDEN`, …), which graphql_client's generic error type has no field for.
#[derive(Deserialize)]
struct GraphqlReply {
    data: Option<repository_refs::ResponseData>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Failures of the GraphQL exchange itself that wrap a lower error (the texts are what the
/// user reads; HTTP statuses and GraphQL errors are worded by `http_error`/`graphql_error`).
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("cannot encode the GraphQL query: {source}")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
    #[error("reading the reply of {url} failed: {source}")]
    Read {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the GraphQL reply of {url} is not what was asked for: {source}")]
    Reply {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl crate::error::Classify for GitHubError {
    fn kind(&self) -> Kind {
        Kind::Operation
    }
}

impl From<GitHubError> for Error {
    fn from(e: GitHubError) -> Error {
        Error::from_layer(e)
    }
}

/// Every branch and tag name of `owner/repo`, without the `refs/heads/` / `refs/tags/` prefix.
///
/// `api_url` is the REST base: `https://api.github.com` (GraphQL at `/graphql`) or a GitHub
/// Enterprise Server's `https://HOST/api/v3` (GraphQL at `https://HOST/api/graphql`).
pub async fn refs(
    transport: &Transport,
    api_url: &Url,
    token: &Secret,
    owner: &str,
    repo: &str,
) -> Result<GitRefs> {
    if token.expose().trim().is_empty() {
        return Err(
            Error::auth("reading branches and tags from GitHub needs a token")
                .with_hint("set --github-token or GITHUB_TOKEN"),
        );
    }
    let endpoint = graphql_endpoint(api_url)?;
    let mut client = Client {
        api: Api::new(transport.clone(), graphql_read_error),
        endpoint,
        authorization: authorization(token)?,
        owner,
        repo,
    };
    let branches = client.names("refs/heads/").await?;
    let tags = client.names("refs/tags/").await?;
    crate::log::debug(&format!(
        "GitHub {owner}/{repo}: {} branches, {} tags",
        branches.len(),
        tags.len()
    ));
    Ok(GitRefs {
        branches,
        tags,
        recent_commits: None,
    })
}

/// The GraphQL endpoint for a REST API base.
pub fn graphql_endpoint(api_url: &Url) -> Result<Url> {
    if !matches!(api_url.scheme(), "http" | "https") || api_url.host_str().is_none() {
        return Err(Error::input(format!(
            "the GitHub API URL {} is not an http(s) URL",
            redact_url(api_url)
        )));
    }
    let mut url = api_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let path = api_url.path().trim_end_matches('/');
    let graphql = if let Some(prefix) = path.strip_suffix("/api/v3") {
        // GitHub Enterprise Server: REST at /api/v3, GraphQL beside it at /api/graphql.
        format!("{prefix}/api/graphql")
    } else if path.ends_with("/graphql") {
        // Already the GraphQL endpoint.
        path.to_string()
    } else {
        // api.github.com, GHE.com (api.SUBDOMAIN.ghe.com), or a proxy mounted under a path.
        format!("{path}/graphql")
    };
    url.set_path(&graphql);
    Ok(url)
}

fn authorization(token: &Secret) -> Result<HeaderValue> {
    let value = crate::registry::transport::bearer_value(token)
        .ok_or_else(|| Error::input("the GitHub token holds characters not allowed in a header"))?;
    Ok(value)
}

struct Client<'a> {
    api: Api,
    endpoint: Url,
    authorization: HeaderValue,
    owner: &'a str,
    repo: &'a str,
}

impl Client<'_> {
    /// All ref names under `prefix`, page after page.
    async fn names(&mut self, prefix: &str) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        let mut after: Option<String> = None;
        let mut pages = Pages::new(format!(
            "GitHub's {prefix} refs of {}/{}",
            self.owner, self.repo
        ));
        loop {
            pages.visit(&format!(
                "the page after cursor {}",
                after.as_deref().unwrap_or("(start)")
            ))?;
            let variables = repository_refs::Variables {
                owner: self.owner.to_string(),
                name: self.repo.to_string(),
                ref_prefix: prefix.to_string(),
                first: PAGE_SIZE,
                after: after.clone(),
            };
            let page = self.page(variables).await?;
            names.extend(page.nodes.into_iter().flatten().flatten().map(|r| r.name));
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (false, _) => return Ok(names),
                (true, Some(cursor)) if after.as_deref() != Some(cursor.as_str()) => {
                    after = Some(cursor)
                }
                (true, _) => {
                    return Err(Error::operation(format!(
                        "GitHub announced more {prefix} refs of {}/{} without a new cursor",
                        self.owner, self.repo
                    )));
                }
            }
        }
    }

    /// One page: sends the query (waiting out the rate limits) and maps the reply.
    async fn page(
        &mut self,
        variables: repository_refs::Variables,
    ) -> Result<repository_refs::RepositoryRefsRepositoryRefs> {
        let body = serde_json::to_vec(&RepositoryRefs::build_query(variables))
            .map_err(|source| GitHubError::Encode { source })?;
        let mut req = Request::new(Method::POST, self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("dockhand/", env!("CARGO_PKG_VERSION")))
            .body(Body::Bytes(body.into()));
        req.headers
            .insert(AUTHORIZATION, self.authorization.clone());
        req.registry_auth = false;
        // A query changes nothing: safe to send again after a dropped connection.
        req.replay_on_connection_error = true;

        let reply = self.api.send(req).await?;
        let status = reply.status;
        let rate_limited = reply.header("x-ratelimit-remaining") == Some("0");
        let bytes = reply.body;
        if status != StatusCode::OK {
            return Err(self.http_error(status, rate_limited, &bytes));
        }
        let reply: GraphqlReply =
            serde_json::from_slice(&bytes).map_err(|source| GitHubError::Reply {
                url: redact_url(&self.endpoint),
                source,
            })?;
        if !reply.errors.is_empty() {
            return Err(self.graphql_error(&reply.errors));
        }
        let repository = reply.data.and_then(|d| d.repository).ok_or_else(|| {
            Error::auth(format!(
                "GitHub shows no repository {}/{} to this token",
                self.owner, self.repo
            ))
            .with_hint(SCOPE_HINT)
        })?;
        repository.refs.ok_or_else(|| {
            Error::operation(format!(
                "GitHub returned no refs for {}/{}",
                self.owner, self.repo
            ))
        })
    }

    fn http_error(&self, status: StatusCode, rate_limited: bool, body: &[u8]) -> Error {
        let message = MessageError::parse(&String::from_utf8_lossy(body))
            .and_then(|e| e.message())
            .map(|m| format!(": {}", scrub(&m)))
            .unwrap_or_default();
        let what = format!(
            "GitHub GraphQL API {} answered HTTP {}{message}",
            redact_url(&self.endpoint),
            status.as_u16()
        );
        match status {
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS if rate_limited => {
                Error::operation(format!("{what} (rate limit exhausted)"))
                    .with_hint("wait for the limit to reset (the x-ratelimit-reset header)")
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Error::auth(what).with_hint(SCOPE_HINT)
            }
            StatusCode::NOT_FOUND => Error::operation(what).with_hint(
                "check --github-api-url: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server",
            ),
            _ => Error::operation(what),
        }
    }

    fn graphql_error(&self, errors: &[GraphqlError]) -> Error {
        let text = errors
            .iter()
            .map(|e| match &e.kind {
                Some(kind) => format!("{kind}: {}", e.message),
                None => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let kind = if errors
            .iter()
            .any(|e| matches!(e.kind.as_deref(), Some("NOT_FOUND" | "FORBIDDEN")))
        {
            Kind::Auth
        } else {
            Kind::Operation
        };
        let error = Error::new(
            kind,
            format!(
                "GitHub could not list the refs of {}/{}: {}",
                self.owner,
                self.repo,
                scrub(&text)
            ),
        );
        if kind == Kind::Auth {
            error.with_hint(SCOPE_HINT)
        } else {
            error
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GitHub's rate limits and the one client that keeps to them, for the REST packages API (GitHub
// Packages' registry implementation) and the GraphQL refs above alike. Both APIs spend the same
// token's budget, so they follow one policy
// (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
// - primary limit: `x-ratelimit-remaining: 0` means wait until `x-ratelimit-reset` (epoch seconds);
// - secondary limit: 403/429 with `retry-after` (or naming the secondary limit without one: wait at
//   least a minute), retried a few times per request;
// - writes (DELETE) one or two at a time and paced, since each costs 5 of the 900 points a minute.

/// DELETEs in flight at once: GitHub asks clients not to send writes concurrently.
const DELETE_CONCURRENCY: usize = 2;
/// DELETE costs 5 of the 900 secondary-limit points per minute: 180 a minute, 3 a second,
/// with a burst allowance so a small cleanup does not wait at all.
const DELETES_PER_SECOND: f64 = 3.0;
const DELETE_BURST: f64 = 30.0;
/// Waits for one request on the secondary limit, and the longest single one.
const MAX_SECONDARY_WAITS: u32 = 5;
const MAX_SECONDARY_WAIT: Duration = Duration::from_secs(120);
/// The longest wait for the primary limit to reset; a later reset fails the run clearly.
const MAX_PRIMARY_WAIT: Duration = Duration::from_secs(15 * 60);
/// When the secondary limit gives no `retry-after`, GitHub says to wait at least a minute.
const DEFAULT_SECONDARY_WAIT: Duration = Duration::from_secs(60);

/// A token bucket for DELETEs.
pub struct Pace {
    tokens: f64,
    last: Instant,
}

impl Pace {
    pub fn new(tokens: f64, last: Instant) -> Pace {
        Pace { tokens, last }
    }

    /// Takes one token at `now`, or says how long to wait for it.
    pub fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Option<Duration> {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// GitHub's rate-limit state for one client: the primary limit's reset, the DELETE pace and
/// the DELETE slots.
pub struct RateLimit {
    /// The primary limit is spent until then (`x-ratelimit-reset`).
    blocked_until: StdMutex<Option<SystemTime>>,
    pace: StdMutex<Pace>,
    deletes: Semaphore,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            blocked_until: StdMutex::new(None),
            pace: StdMutex::new(Pace::new(DELETE_BURST, Instant::now())),
            deletes: Semaphore::new(DELETE_CONCURRENCY),
        }
    }
}

impl RateLimit {
    #[cfg(test)]
    fn blocked_until(until: SystemTime) -> RateLimit {
        let limit = RateLimit::default();
        *limit.blocked_until.lock().unwrap() = Some(until);
        limit
    }

    /// How long to wait for the primary limit, or an error when its reset is too far off.
    fn wait_primary(&self) -> Result<Option<Duration>> {
        let mut blocked = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        let Some(until) = *blocked else {
            return Ok(None);
        };
        let Ok(wait) = until.duration_since(SystemTime::now()) else {
            *blocked = None;
            return Ok(None);
        };
        if wait > MAX_PRIMARY_WAIT {
            return Err(Error::operation(format!(
                "GitHub API rate limit is spent for the next {} min (x-ratelimit-reset)",
                wait.as_secs().div_ceil(60)
            ))
            .with_hint("retry after the reset, or use a token with a larger budget (a personal access token has 5,000 requests an hour)"));
        }
        *blocked = None;
        // The reset is whole seconds: a little slack so the first request lands after it.
        Ok(Some(wait + Duration::from_millis(200)))
    }

    /// Notes a spent primary limit; true when the reply says when it resets.
    fn note_primary(&self, reply: &Reply) -> bool {
        let spent = reply.header("x-ratelimit-remaining").map(str::trim) == Some("0");
        let reset = reply
            .header("x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| UNIX_EPOCH + Duration::from_secs(s));
        match reset {
            Some(reset) if spent => {
                *self.blocked_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(reset);
                true
            }
            _ => false,
        }
    }

    /// Waits for a DELETE slot of the pace.
    async fn paced(&self) {
        loop {
            let wait = self.pace.lock().unwrap_or_else(|p| p.into_inner()).take(
                Instant::now(),
                DELETES_PER_SECOND,
                DELETE_BURST,
            );
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }
}

/// A buffered reply of GitHub's API (all of them are small JSON documents).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub url: Url,
}

impl Reply {
    /// The `message` of GitHub's error body (`{"message", "documentation_url"}`), else the
    /// body's start.
    pub fn message(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        MessageError::parse(&body)
            .and_then(|m| m.message())
            .unwrap_or_else(|| excerpt(&body))
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::operation(format!(
                "GitHub API reply of {} is not what was expected: {e}",
                redact_url(&self.url)
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The secondary limit's wait, when this reply is one.
    fn secondary_wait(&self) -> Option<Duration> {
        if !matches!(self.status.as_u16(), 403 | 429) {
            return None;
        }
        let retry_after = self
            .header(RETRY_AFTER.as_str())
            .and_then(|v| crate::registry::retry::parse_retry_after(v, SystemTime::now()));
        let named = || {
            self.message()
                .to_ascii_lowercase()
                .contains("secondary rate limit")
        };
        if retry_after.is_none() && !named() {
            return None;
        }
        Some(retry_after.unwrap_or(DEFAULT_SECONDARY_WAIT))
    }
}

/// How a failed read of a reply's body is worded (the REST and GraphQL texts differ).
pub type ReadError = fn(&Url, reqwest::Error) -> Error;

/// One GitHub API client over the run's transport, keeping to GitHub's rate limits.
pub struct Api {
    pub transport: Transport,
    limit: RateLimit,
    read_error: ReadError,
}

impl Api {
    pub fn new(transport: Transport, read_error: ReadError) -> Api {
        Api {
            transport,
            limit: RateLimit::default(),
            read_error,
        }
    }

    #[cfg(test)]
    fn with_limit(transport: Transport, limit: RateLimit) -> Api {
        Api {
            limit,
            ..Api::new(transport, rest_read_error)
        }
    }

    /// Sends `req` (with its token already set), waiting out the primary and secondary rate
    /// limits; any other reply is the caller's to judge.
    pub async fn send(&self, req: Request) -> Result<Reply> {
        let url = req.url.clone();
        let api = crate::registry::transport::host_port(&url);
        let mut secondary_waits = 0;
        loop {
            if let Some(d) = self.limit.wait_primary()? {
                self.transport.wait(&api, d, "x-ratelimit-reset").await?;
            }
            let resp = self.transport.send(req.clone()).await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(|e| (self.read_error)(&url, e))?;
            let reply = Reply {
                status,
                headers,
                body,
                url: url.clone(),
            };
            let reset_known = self.limit.note_primary(&reply);
            if !matches!(status.as_u16(), 403 | 429) {
                return Ok(reply);
            }
            // Primary limit spent: the next round waits for the reset (or fails clearly).
            if reset_known {
                crate::log::debug("GitHub primary rate limit spent: waiting for its reset");
                continue;
            }
            let Some(wait) = reply.secondary_wait() else {
                return Ok(reply);
            };
            if secondary_waits >= MAX_SECONDARY_WAITS || wait > MAX_SECONDARY_WAIT {
                return Err(Error::operation(format!(
                    "GitHub's secondary rate limit still applies to {} (HTTP {}, it asks to wait {}s)",
                    redact_url(&url),
                    status.as_u16(),
                    wait.as_secs()
                ))
                .with_hint("retry later, or run fewer jobs against the GitHub API at once"));
            }
            secondary_waits += 1;
            crate::log::verbose(&format!(
                "GitHub secondary rate limit (HTTP {}): waiting {}s",
                status.as_u16(),
                wait.as_secs_f64()
            ));
            // Taken from the run-wide retry budget, as every other rate-limit wait is
            // (docs/ARCHITECTURE.md, "The transport").
            self.transport
                .wait(&api, wait, "GitHub secondary rate limit")
                .await?;
        }
    }

    /// Sends a write (DELETE) in one of the few slots and at the pace GitHub allows.
    pub async fn send_write(&self, req: Request) -> Result<Reply> {
        let _slot = self
            .limit
            .deletes
            .acquire()
            .await
            .map_err(|_| Error::operation("closed"))?;
        self.limit.paced().await;
        self.send(req).await
    }
}

/// The REST API's wording of a failed body read.
pub fn rest_read_error(url: &Url, e: reqwest::Error) -> Error {
    Error::operation(format!("reading {} failed: {e}", redact_url(url)))
}

/// The GraphQL exchange's wording of a failed body read.
fn graphql_read_error(url: &Url, source: reqwest::Error) -> Error {
    GitHubError::Read {
        url: redact_url(url),
        source,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts of the wrapped failures, as the format! calls they replaced wrote them.
    #[test]
    fn wrapped_failures_keep_their_text_and_source() {
        let bad = || serde_json::from_slice::<serde_json::Value>(b"x").unwrap_err();
        let e: Error = GitHubError::Reply {
            url: "https://api.github.com/graphql".into(),
            source: bad(),
        }
        .into();
        assert_eq!(e.kind, Kind::Operation);
        assert_eq!(
            e.to_string(),
            "the GraphQL reply of https://api.github.com/graphql is not what was asked for: \
             expected value at line 1 column 1"
        );
        assert!(std::error::Error::source(&e).is_some());
        let e: Error = GitHubError::Encode { source: bad() }.into();
        assert_eq!(
            e.to_string(),
            "cannot encode the GraphQL query: expected value at line 1 column 1"
        );
    }

    fn endpoint(base: &str) -> String {
        graphql_endpoint(&Url::parse(base).unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn endpoint_for_github_com_and_enterprise_server() {
        for base in ["https://api.github.com", "https://api.github.com/"] {
            assert_eq!(endpoint(base), "https://api.github.com/graphql", "{base}");
        }
        for base in ["https://ghe.example/api/v3", "https://ghe.example/api/v3/"] {
            assert_eq!(endpoint(base), "https://ghe.example/api/graphql", "{base}");
        }
        assert_eq!(
            endpoint("https://api.acme.ghe.com"),
            "https://api.acme.ghe.com/graphql"
        );
        assert_eq!(
            endpoint("https://ghe.example/api/graphql"),
            "https://ghe.example/api/graphql"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080/proxy/"),
            "http://127.0.0.1:8080/proxy/graphql"
        );
        assert!(graphql_endpoint(&Url::parse("ftp://x/").unwrap()).is_err());
    }

    #[test]
    fn query_body_carries_the_variables() {
        let body = RepositoryRefs::build_query(repository_refs::Variables {
            owner: "acme".into(),
            name: "app".into(),
            ref_prefix: "refs/heads/".into(),
            first: PAGE_SIZE,
            after: None,
        });
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["operationName"], "RepositoryRefs");
        assert_eq!(json["variables"]["refPrefix"], "refs/heads/");
        assert_eq!(json["variables"]["first"], 100);
        assert!(json["variables"]["after"].is_null());
        assert!(json["query"].as_str().unwrap().contains("endCursor"));
    }

    #[tokio::test]
    async fn primary_limit_too_far_off_fails_clearly() {
        let transport = Transport::new(
            Default::default(),
            crate::registry::credentials::CredentialStore::default(),
        )
        .unwrap();
        let api = Api::with_limit(
            transport,
            RateLimit::blocked_until(SystemTime::now() + Duration::from_secs(3600)),
        );
        let e = api.limit.wait_primary().unwrap_err();
        assert!(
            e.message
                .contains("rate limit is spent for the next 60 min"),
            "{e}"
        );
        *api.limit.blocked_until.lock().unwrap() = Some(SystemTime::now() + Duration::from_secs(2));
        let wait = api.limit.wait_primary().unwrap().unwrap();
        assert!(
            wait > Duration::from_secs(1) && wait < Duration::from_secs(3),
            "{wait:?}"
        );
        assert_eq!(
            api.limit.wait_primary().unwrap(),
            None,
            "waited once, then clear"
        );
    }

    #[test]
    fn deletes_are_paced() {
        let start = Instant::now();
        let mut pace = Pace::new(2.0, start);
        assert_eq!(pace.take(start, 3.0, 2.0), None);
        assert_eq!(pace.take(start, 3.0, 2.0), None);
        let wait = pace.take(start, 3.0, 2.0).unwrap();
        assert!((wait.as_secs_f64() - 1.0 / 3.0).abs() < 1e-6, "{wait:?}");
        // A third of a second later one more is allowed, and no more.
        let later = start + Duration::from_millis(334);
        assert_eq!(pace.take(later, 3.0, 2.0), None);
        assert!(pace.take(later, 3.0, 2.0).is_some());
    }
}
