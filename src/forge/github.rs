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
// - primary limit: 5,000 requests an hour for a user's token (`x-ratelimit-limit/-remaining/
//   -reset`); requests are spaced so that the remaining budget lasts until the reset, and
//   `x-ratelimit-remaining: 0` means wait until `x-ratelimit-reset` (epoch seconds);
// - secondary limits: 900 points a minute (GET 1 point, POST/PATCH/PUT/DELETE 5), 80
//   content-generating requests a minute and 500 an hour, no more than 100 concurrent requests;
//   requests are paced to stay inside them, and a 403/429 with `retry-after` (or naming the
//   secondary limit without one: wait at least a minute) is still waited out a few times.
// The limits are data (`Limits`), so GitHub Enterprise Server's configured ones can be given
// with `--github-rate-limit` (docs/registry-guide.md#github-rate-limits).

/// DELETEs in flight at once: GitHub asks clients not to send writes concurrently.
const DELETE_CONCURRENCY: usize = 2;
/// Waits for one request on the secondary limit, and the longest single one.
const MAX_SECONDARY_WAITS: u32 = 5;
const MAX_SECONDARY_WAIT: Duration = Duration::from_secs(120);
/// The longest wait for the primary limit to reset; a later reset fails the run clearly.
const MAX_PRIMARY_WAIT: Duration = Duration::from_secs(15 * 60);
/// When the secondary limit gives no `retry-after`, GitHub says to wait at least a minute.
const DEFAULT_SECONDARY_WAIT: Duration = Duration::from_secs(60);
/// Pacing waits at least this long are announced on stderr (as `Transport::wait` does).
const ANNOUNCE_PACE: Duration = Duration::from_secs(2);
/// Of each budget, this share may go at once (a small cleanup never waits); the rest is spread
/// over the window.
const BURST_SHARE: f64 = 0.1;
/// Of a secondary budget's even rate, the share used: requests reach the server a little after
/// they leave, so one sent at the end of a window may count in the next.
const RATE_SHARE: f64 = 0.95;
/// Primary-budget requests never spent by the pacer: replies still in flight are not yet
/// counted in the last `x-ratelimit-remaining`.
const PRIMARY_RESERVE: f64 = 4.0;

/// Which of GitHub's budgets a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The primary limit: every request counts 1.
    Requests,
    /// The secondary points: a read 1, a write (POST/PATCH/PUT/DELETE) 5.
    Points,
    /// Content-generating requests (POST/PATCH/PUT on the REST API).
    Content,
}

impl Budget {
    fn name(self) -> &'static str {
        match self {
            Budget::Requests => "requests",
            Budget::Points => "points",
            Budget::Content => "content",
        }
    }
}

/// One limit: `count` of a budget per `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub budget: Budget,
    pub count: u32,
    pub window: Duration,
}

/// The limits the pacer keeps. The default is github.com's documented ones; an empty list
/// (`--github-rate-limit off`) paces nothing (GitHub Enterprise Server has rate limits off
/// unless its administrator sets them).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits(pub Vec<Limit>);

impl Default for Limits {
    fn default() -> Limits {
        let limit = |budget, count, secs| Limit {
            budget,
            count,
            window: Duration::from_secs(secs),
        };
        // https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
        Limits(vec![
            limit(Budget::Requests, 5000, 3600),
            limit(Budget::Points, 900, 60),
            limit(Budget::Content, 80, 60),
            limit(Budget::Content, 500, 3600),
        ])
    }
}

impl Limits {
    /// `--github-rate-limit`: `off`, or comma-separated `BUDGET=COUNT/WINDOW` items (`requests`,
    /// `points`, `content`; the window a duration such as `1h`, `1m`, `500ms`). A budget named
    /// replaces all its defaults; one not named keeps them. The error text says what is wrong.
    pub fn parse(s: &str) -> std::result::Result<Limits, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Limits(Vec::new()));
        }
        let mut given: Vec<Limit> = Vec::new();
        for item in s.split(',').map(str::trim) {
            let bad = |why: &str| {
                format!(
                    "{item:?} {why}; write BUDGET=COUNT/WINDOW items such as \
                     requests=5000/1h,points=900/1m,content=80/1m, or off"
                )
            };
            let (key, value) = item.split_once('=').ok_or_else(|| bad("has no ="))?;
            let budget = match key.trim().to_ascii_lowercase().as_str() {
                "requests" => Budget::Requests,
                "points" => Budget::Points,
                "content" => Budget::Content,
                _ => return Err(bad("names no budget (requests, points or content)")),
            };
            let (count, window) = value.split_once('/').ok_or_else(|| bad("has no /WINDOW"))?;
            let count: u32 = count
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("has no COUNT above 0"))?;
            let window = humantime::parse_duration(window.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| bad("has no WINDOW duration above 0"))?;
            if budget == Budget::Requests && given.iter().any(|l| l.budget == budget) {
                return Err(bad("repeats the primary budget, which has one window"));
            }
            given.push(Limit {
                budget,
                count,
                window,
            });
        }
        let mut limits: Vec<Limit> = Limits::default()
            .0
            .into_iter()
            .filter(|d| !given.iter().any(|g| g.budget == d.budget))
            .collect();
        limits.extend(given);
        Ok(Limits(limits))
    }

    /// `requests=5000/1h,…` (for the log and the plan).
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "off".into();
        }
        self.0
            .iter()
            .map(|l| {
                format!(
                    "{}={}/{}",
                    l.budget.name(),
                    l.count,
                    humantime::format_duration(l.window)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What one request costs: writes spend 5 points, content-generating ones also count there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub write: bool,
    pub content: bool,
}

impl Cost {
    pub const READ: Cost = Cost {
        write: false,
        content: false,
    };
    pub const DELETE: Cost = Cost {
        write: true,
        content: false,
    };

    /// The cost of a request. A GraphQL query is a POST that changes nothing: one point here
    /// (the GraphQL endpoint has its own, larger, points budget).
    pub fn of(method: &Method, url: &Url) -> Cost {
        let graphql = url.path().trim_end_matches('/').ends_with("/graphql");
        let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || graphql;
        Cost {
            write: !read,
            content: !read && matches!(*method, Method::POST | Method::PUT | Method::PATCH),
        }
    }

    fn of_budget(self, budget: Budget) -> f64 {
        match budget {
            Budget::Requests => 1.0,
            Budget::Points if self.write => 5.0,
            Budget::Points => 1.0,
            Budget::Content => f64::from(u8::from(self.content)),
        }
    }
}

/// A token bucket for one secondary limit: a tenth of the window's count at once, the rest at
/// an even rate, so no window of that length ever sees more than the count.
#[derive(Debug, Clone)]
struct Bucket {
    limit: Limit,
    burst: f64,
    rate: f64,
    tokens: f64,
    at: f64,
}

impl Bucket {
    fn new(limit: Limit) -> Bucket {
        let count = f64::from(limit.count);
        let burst = (count * BURST_SHARE).floor().max(1.0).min(count);
        Bucket {
            limit,
            burst,
            rate: (count - burst).max(1.0) * RATE_SHARE / limit.window.as_secs_f64(),
            tokens: burst,
            at: 0.0,
        }
    }

    fn refill(&mut self, t: f64) {
        if t > self.at {
            self.tokens = (self.tokens + (t - self.at) * self.rate).min(self.burst);
            self.at = t;
        }
    }

    fn wait(&mut self, t: f64, cost: Cost) -> f64 {
        let need = cost.of_budget(self.limit.budget);
        self.refill(t);
        if need == 0.0 || self.tokens >= need {
            0.0
        } else {
            (need - self.tokens) / self.rate
        }
    }

    fn take(&mut self, t: f64, cost: Cost) {
        self.refill(t);
        self.tokens -= cost.of_budget(self.limit.budget);
    }
}

/// The primary budget as the server last reported it, spread over its window: a tenth at once,
/// then no faster than the window's share, so that what remains lasts until the reset.
#[derive(Debug, Clone)]
struct Primary {
    window: f64,
    limit: f64,
    /// Spent in the current window: the server's count plus what was sent since.
    used: f64,
    /// When the window resets (pacer seconds), once a reply said it.
    reset: Option<f64>,
}

impl Primary {
    fn roll(&mut self, t: f64) {
        match self.reset {
            Some(r) if t >= r => {
                // A new window starts with the next request; the next reply dates it.
                self.used = 0.0;
                self.reset = Some(t + self.window);
            }
            None => self.reset = Some(t + self.window),
            _ => {}
        }
    }

    fn wait(&mut self, t: f64) -> f64 {
        self.roll(t);
        let reset = self.reset.unwrap_or(t + self.window);
        let left = reset - t;
        let window = self.window.max(left);
        let cap = (self.limit - PRIMARY_RESERVE).max(1.0);
        if self.used + 1.0 > cap {
            return left + 0.05;
        }
        let burst = (self.limit * BURST_SHARE).floor();
        let allowed = (burst + self.limit * (window - left) / window).min(cap);
        if self.used + 1.0 <= allowed {
            return 0.0;
        }
        let at = reset - window + (self.used + 1.0 - burst) * window / self.limit;
        (at - t).max(0.0)
    }

    fn take(&mut self, t: f64) {
        self.roll(t);
        self.used += 1.0;
    }
}

/// The pace of one token's requests: every secondary limit as a bucket, and the primary budget.
/// Pure: it is given the time (seconds since the pacer started), so the plan runs the same
/// pacer on a copy to say how long the deletions take.
#[derive(Debug, Clone)]
pub struct Pacer {
    buckets: Vec<Bucket>,
    primary: Option<Primary>,
    /// Mean round trip of the replies seen, for the estimate.
    latency: f64,
    replies: f64,
}

impl Pacer {
    pub fn new(limits: &Limits) -> Pacer {
        let mut primary = None;
        let mut buckets = Vec::new();
        for l in &limits.0 {
            match l.budget {
                Budget::Requests => {
                    primary = Some(Primary {
                        window: l.window.as_secs_f64(),
                        limit: f64::from(l.count),
                        used: 0.0,
                        reset: None,
                    })
                }
                _ => buckets.push(Bucket::new(*l)),
            }
        }
        Pacer {
            buckets,
            primary,
            latency: 0.0,
            replies: 0.0,
        }
    }

    /// Seconds to wait at `t` before a request of `cost` may go (0: now).
    pub fn wait(&mut self, t: f64, cost: Cost) -> f64 {
        let mut wait = self.primary.as_mut().map_or(0.0, |p| p.wait(t));
        for b in &mut self.buckets {
            wait = wait.max(b.wait(t, cost));
        }
        wait
    }

    /// Spends the request's cost at `t`.
    pub fn take(&mut self, t: f64, cost: Cost) {
        if let Some(p) = &mut self.primary {
            p.take(t);
        }
        for b in &mut self.buckets {
            b.take(t, cost);
        }
    }

    /// What a reply says of the primary budget (`x-ratelimit-limit`, `-remaining`, `-reset` as
    /// pacer seconds), and how long it took.
    pub fn note(
        &mut self,
        limit: Option<f64>,
        remaining: Option<f64>,
        reset: Option<f64>,
        rtt: f64,
    ) {
        self.replies += 1.0;
        self.latency += (rtt - self.latency) / self.replies;
        let Some(p) = &mut self.primary else {
            return;
        };
        if let Some(l) = limit.filter(|l| *l > 0.0) {
            p.limit = l;
        }
        if let Some(r) = remaining {
            p.used = (p.limit - r).max(0.0);
        }
        if let Some(r) = reset {
            p.reset = Some(r);
        }
    }

    /// How long `ops` take from `t` at this pace: each read after the one before (the listings
    /// page one after another), writes `DELETE_CONCURRENCY` at a time; each request also takes
    /// the mean round trip seen so far.
    pub fn estimate(&self, t: f64, ops: impl IntoIterator<Item = Cost>) -> Duration {
        let mut sim = self.clone();
        let mut now = t;
        for cost in ops {
            now += sim.wait(now, cost);
            sim.take(now, cost);
            now += if cost.write {
                self.latency / DELETE_CONCURRENCY as f64
            } else {
                self.latency
            };
        }
        Duration::from_secs_f64((now - t).max(0.0))
    }
}

/// GitHub's rate-limit state for one client: the primary limit's reset, the pace of all
/// requests and the DELETE slots.
pub struct RateLimit {
    /// The primary limit is spent until then (`x-ratelimit-reset`).
    blocked_until: StdMutex<Option<SystemTime>>,
    pacer: StdMutex<Pacer>,
    /// The pacer's second 0.
    origin: Instant,
    origin_wall: SystemTime,
    limits: Limits,
    deletes: Semaphore,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit::new(Limits::default())
    }
}

impl RateLimit {
    pub fn new(limits: Limits) -> RateLimit {
        RateLimit {
            blocked_until: StdMutex::new(None),
            pacer: StdMutex::new(Pacer::new(&limits)),
            origin: Instant::now(),
            origin_wall: SystemTime::now(),
            limits,
            deletes: Semaphore::new(DELETE_CONCURRENCY),
        }
    }

    #[cfg(test)]
    fn blocked_until(until: SystemTime) -> RateLimit {
        let limit = RateLimit::default();
        *limit.blocked_until.lock().unwrap() = Some(until);
        limit
    }

    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
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

    /// Notes what a reply says of the primary limit; true when it is spent and the reply says
    /// when it resets.
    fn note_primary(&self, reply: &Reply, rtt: Duration) -> bool {
        let number = |name: &str| {
            reply
                .header(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let remaining = number("x-ratelimit-remaining");
        let reset = number("x-ratelimit-reset").map(|s| UNIX_EPOCH + Duration::from_secs(s));
        let at = reset.map(|r| match r.duration_since(self.origin_wall) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        });
        self.pacer.lock().unwrap_or_else(|p| p.into_inner()).note(
            number("x-ratelimit-limit").map(|n| n as f64),
            remaining.map(|n| n as f64),
            at,
            rtt.as_secs_f64(),
        );
        match reset {
            Some(reset) if remaining == Some(0) => {
                *self.blocked_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(reset);
                true
            }
            _ => false,
        }
    }

    /// Waits until the pace lets a request of `cost` go, and spends its cost. A wait is not a
    /// retry, so it does not count against the run's retry budget; a long one is announced.
    async fn paced(&self, api: &str, cost: Cost) {
        loop {
            let wait = {
                let mut pacer = self.pacer.lock().unwrap_or_else(|p| p.into_inner());
                let t = self.now();
                let wait = pacer.wait(t, cost);
                if wait <= 0.0 {
                    pacer.take(t, cost);
                    return;
                }
                Duration::from_secs_f64(wait)
            };
            if wait >= ANNOUNCE_PACE {
                crate::log::info(&format!(
                    "waiting {} s for {api} rate limit (pacing to GitHub's limits {})",
                    wait.as_secs_f64().round(),
                    self.limits.describe()
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// How long `ops` take from now at the pace (the primary budget as last reported).
    pub fn estimate(&self, ops: impl IntoIterator<Item = Cost>) -> Duration {
        let pacer = self.pacer.lock().unwrap_or_else(|p| p.into_inner()).clone();
        pacer.estimate(self.now(), ops)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
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
        Api::with_limits(transport, read_error, Limits::default())
    }

    /// A client keeping to `limits` (`--github-rate-limit`).
    pub fn with_limits(transport: Transport, read_error: ReadError, limits: Limits) -> Api {
        Api {
            transport,
            limit: RateLimit::new(limits),
            read_error,
        }
    }

    /// How long `ops` take from now at this client's pace.
    pub fn estimate(&self, ops: impl IntoIterator<Item = Cost>) -> Duration {
        self.limit.estimate(ops)
    }

    pub fn limits(&self) -> &Limits {
        self.limit.limits()
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
            self.limit.paced(&api, Cost::of(&req.method, &url)).await;
            let sent = Instant::now();
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
            let reset_known = self.limit.note_primary(&reply, sent.elapsed());
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
    fn limits_parse_and_keep_the_defaults_not_named() {
        let l = Limits::parse("points=90/1s, requests=500/10s").unwrap();
        assert_eq!(
            l.describe(),
            "content=80/1m,content=500/1h,points=90/1s,requests=500/10s"
        );
        assert_eq!(Limits::parse("OFF").unwrap(), Limits(vec![]));
        for bad in [
            "points",
            "points=0/1m",
            "points=9",
            "points=9/0s",
            "bananas=1/1m",
            "requests=1/1h,requests=2/1h",
        ] {
            let e = Limits::parse(bad).unwrap_err();
            assert!(e.contains("BUDGET=COUNT/WINDOW"), "{bad}: {e}");
        }
    }

    #[test]
    fn costs_follow_githubs_points() {
        let u = |s: &str| Url::parse(s).unwrap();
        let rest = u("https://api.github.com/orgs/o/packages/container/p/versions/1");
        assert_eq!(Cost::of(&Method::GET, &rest), Cost::READ);
        assert_eq!(Cost::of(&Method::DELETE, &rest), Cost::DELETE);
        assert!(Cost::of(&Method::POST, &rest).content);
        assert_eq!(
            Cost::of(&Method::POST, &u("https://api.github.com/graphql")),
            Cost::READ
        );
    }

    /// A run of DELETEs at 900 points a minute: a tenth at once, then 95% of 810 points (154
    /// DELETEs) a minute, so no minute ever sees more than 900 points.
    #[test]
    fn deletes_are_paced_by_the_points_budget() {
        let limits = Limits::parse("requests=100000/1h,content=80/1m").unwrap();
        let mut pacer = Pacer::new(&limits);
        let mut t = 0.0;
        let mut sent = Vec::new();
        for _ in 0..1000 {
            t += pacer.wait(t, Cost::DELETE);
            pacer.take(t, Cost::DELETE);
            sent.push(t);
        }
        for (i, start) in sent.iter().enumerate() {
            let in_minute = sent[i..].iter().take_while(|s| **s < start + 60.0).count();
            assert!(in_minute * 5 <= 900, "{in_minute} DELETEs from {start}");
        }
        let expect = (1000.0 * 5.0 - 90.0) / (810.0 * RATE_SHARE / 60.0);
        assert!((t - expect).abs() < 1.0, "{t} vs {expect}");
        // The estimate runs the same pacer.
        let est = Pacer::new(&limits).estimate(0.0, vec![Cost::DELETE; 1000]);
        assert!((est.as_secs_f64() - t).abs() < 1.0, "{est:?}");
    }

    /// The primary budget as reported lasts until the reset: with 1,000 of 5,000 left and 30
    /// minutes to go, requests are spread, never spending the last ones.
    #[test]
    fn primary_budget_lasts_until_the_reset() {
        let mut pacer = Pacer::new(&Limits::parse("points=1000000/1m,content=1000/1m").unwrap());
        pacer.note(Some(5000.0), Some(1000.0), Some(1800.0), 0.0);
        let mut t = 0.0;
        let mut n = 0;
        while t < 1800.0 {
            t += pacer.wait(t, Cost::READ);
            if t >= 1800.0 {
                break;
            }
            pacer.take(t, Cost::READ);
            n += 1;
        }
        assert!((990..=996).contains(&n), "{n} requests before the reset");
        // Half an hour in, at most the window's share beyond the burst was spent.
        let mut pacer = Pacer::new(&Limits::default());
        pacer.note(Some(5000.0), Some(5000.0), Some(3600.0), 0.0);
        let est = pacer.estimate(0.0, vec![Cost::READ; 3000]);
        let expect = (3000.0 - 500.0) * 3600.0 / 5000.0;
        assert!((est.as_secs_f64() - expect).abs() < 5.0, "{est:?}");
    }
}
