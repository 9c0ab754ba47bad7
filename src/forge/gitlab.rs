//! Branch and tag names of a GitLab project, from the REST API v4.
//!
//! `GET {api}/projects/:id/repository/branches` and `…/tags`, 100 per page, following the
//! `Link rel="next"` header when it stays on the API's origin (keyset pagination on gitlab.com
//! sends only that) and `X-Next-Page` otherwise (empty on the last page). `:id` is the numeric
//! id or the full path with each `/` encoded once as `%2F` (docs/registries.md#gitlab).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::cleanup::model::GitRefs;
use crate::error::{Classify, Error, Kind, Result};
use crate::registry::distribution::next_link;
use crate::registry::paging::Pages;
use crate::registry::rest::{MessageError, VendorError};
use crate::registry::transport::{Request, Transport};
use crate::secret::{Secret, redact_url};

/// What can go wrong talking to GitLab's REST API (the texts are what the user reads).
#[derive(Debug, thiserror::Error)]
pub enum GitLabError {
    #[error("the GitLab token was refused")]
    Refused,
    #[error("the GitLab token may not read the {what} of project {project}")]
    Forbidden { what: String, project: String },
    #[error("GitLab project {project} not found (or the token cannot see it)")]
    NotFound { project: String },
    /// Any other status; `detail` is `: <message>` from the body, or empty.
    #[error("GitLab answered GET {url} with HTTP {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("reading GitLab {what} from {url} failed: {source}")]
    Read {
        what: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GitLab answered {url} with something other than a list of {what}: {source}")]
    NotAList {
        what: String,
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("GitLab sent a bad X-Next-Page header {0:?}")]
    BadNextPage(String),
    #[error("GitLab's next page {next} is not on the API's origin {origin}")]
    ForeignNextPage { next: String, origin: String },
}

impl Classify for GitLabError {
    fn kind(&self) -> Kind {
        match self {
            GitLabError::Refused | GitLabError::Forbidden { .. } => Kind::Auth,
            GitLabError::NotFound { .. } => Kind::Input,
            _ => Kind::Operation,
        }
    }
    fn hint(&self) -> Option<String> {
        let hint = match self {
            GitLabError::Refused => {
                "check that the token is valid and not expired (PRIVATE-TOKEN, CI_JOB_TOKEN or OAuth)"
            }
            GitLabError::Forbidden { .. } => {
                "a personal, project or group token needs the read_api (or read_repository) \
                 scope; CI_JOB_TOKEN works only for the pipeline's own project"
            }
            GitLabError::NotFound { .. } => {
                "check --gitlab-project (CI_PROJECT_ID in GitLab CI) and the GitLab API URL"
            }
            GitLabError::NotAList { .. } => "check that the GitLab API URL ends in /api/v4",
            GitLabError::ForeignNextPage { .. } => {
                "set the GitLab API URL to the instance's external URL (CI_API_V4_URL)"
            }
            GitLabError::Status { .. } | GitLabError::Read { .. } | GitLabError::BadNextPage(_) => {
                return None;
            }
        };
        Some(hint.into())
    }
}

impl From<GitLabError> for Error {
    fn from(e: GitLabError) -> Error {
        Error::from_layer(e)
    }
}

/// How a GitLab API token is sent.
#[derive(Debug, Clone)]
pub enum Token {
    /// `PRIVATE-TOKEN`: a personal, project or group access token.
    Private(Secret),
    /// `JOB-TOKEN`: `CI_JOB_TOKEN`, valid for the pipeline's own project only.
    Job(Secret),
    /// `Authorization: Bearer`: an OAuth token.
    Bearer(Secret),
}

impl Token {
    /// A token given as an option (`--gitlab-token`): an access token for `PRIVATE-TOKEN`, or,
    /// written `oauth2:<token>`, an OAuth token sent as `Authorization: Bearer` (GitLab's own
    /// `oauth2` user name convention). Both the registry and git-ref paths take it from here.
    pub fn from_option(token: &Secret) -> Token {
        match token.expose().strip_prefix("oauth2:") {
            Some(oauth) => Token::Bearer(Secret::new(oauth)),
            None => Token::Private(token.clone()),
        }
    }

    /// What kind of token this is, as the user would name it (for error messages).
    pub fn describe(&self) -> &'static str {
        match self {
            Token::Private(_) => "the GitLab access token (PRIVATE-TOKEN)",
            Token::Job(_) => "CI_JOB_TOKEN (JOB-TOKEN)",
            Token::Bearer(_) => "the GitLab OAuth token (Authorization: Bearer)",
        }
    }

    /// The header that carries the token.
    pub fn header(&self) -> Result<(HeaderName, HeaderValue)> {
        let (name, value) = match self {
            Token::Private(s) => (
                HeaderName::from_static("private-token"),
                s.expose().to_string(),
            ),
            Token::Job(s) => (HeaderName::from_static("job-token"), s.expose().to_string()),
            Token::Bearer(s) => (AUTHORIZATION, format!("Bearer {}", s.expose())),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            Error::input("the GitLab token holds characters not allowed in a header")
        })?;
        value.set_sensitive(true);
        Ok((name, value))
    }
}

/// Every branch and tag name of `project` (a numeric id or `group/sub/project`).
pub async fn refs(
    transport: &Transport,
    api_url: &Url,
    token: &Token,
    project: &str,
) -> Result<GitRefs> {
    let project = project.trim().trim_matches('/');
    if project.is_empty() {
        return Err(Error::input("the GitLab project is empty")
            .with_hint("set --gitlab-project to the numeric id or the full path group/project"));
    }
    let api = Api::new(transport.clone(), token)?;
    let branches = list(&api, api_url, project, "branches").await?;
    let tags = list(&api, api_url, project, "tags").await?;
    Ok(GitRefs {
        branches,
        tags,
        recent_commits: None,
    })
}

/// `{api}/projects/<id>/repository/<what>?per_page=100`, the id pushed as one segment so that a
/// path's `/` becomes `%2F` exactly once.
fn first_page(api_url: &Url, project: &str, what: &str) -> Result<Url> {
    let mut url = api_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| Error::input(format!("the GitLab API URL {api_url} cannot take a path")))?
        .pop_if_empty()
        .extend(["projects", project, "repository", what]);
    url.query_pairs_mut().append_pair("per_page", "100");
    Ok(url)
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

async fn list(api: &Api, api_url: &Url, project: &str, what: &str) -> Result<BTreeSet<String>> {
    let first = first_page(api_url, project, what)?;
    let mut url = first.clone();
    let mut names = BTreeSet::new();
    let mut pages = Pages::new(format!("GitLab's {what} of project {project}"));
    loop {
        pages.visit_url(&url)?;
        let resp = api.send(Method::GET, url.clone()).await?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(failure(status, &text, project, what, &url));
        }
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|source| GitLabError::Read {
            what: what.to_string(),
            url: redact_url(&url),
            source,
        })?;
        let page: Vec<Named> =
            serde_json::from_slice(&body).map_err(|source| GitLabError::NotAList {
                what: what.to_string(),
                url: redact_url(&url),
                source,
            })?;
        names.extend(page.into_iter().map(|n| n.name));
        match next_page(&headers, &url, &first)? {
            Some(next) => url = next,
            None => return Ok(names),
        }
    }
}

/// GitLab's rate limits (https://docs.gitlab.com/ee/user/gitlab_com/index.html#gitlabcom-specific-rate-limits):
/// every API reply carries `RateLimit-Remaining` and `RateLimit-Reset` (epoch seconds); once
/// the remaining count is 0 the next request waits for the reset instead of running into 429s.
/// A 429 itself carries `Retry-After`, which the transport already waits out (run-wide budget).
#[derive(Default)]
pub struct RateLimit {
    /// The window is spent until then.
    blocked_until: Mutex<Option<SystemTime>>,
}

/// The longest wait for a reset; a later one is left to the 429 and its `Retry-After`.
const MAX_RESET_WAIT: Duration = Duration::from_secs(60);

impl RateLimit {
    /// Notes a spent window from a reply's headers.
    fn note(&self, headers: &HeaderMap) {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let spent = header("ratelimit-remaining") == Some("0");
        let reset = header("ratelimit-reset")
            .and_then(|v| v.parse::<u64>().ok())
            .map(|s| UNIX_EPOCH + Duration::from_secs(s));
        if spent && let Some(reset) = reset {
            *self.blocked_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(reset);
        }
    }

    /// How long to wait before the next request (at most [`MAX_RESET_WAIT`]).
    fn wait(&self, now: SystemTime) -> Option<Duration> {
        let until = self
            .blocked_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        let wait = until.duration_since(now).ok()?;
        Some(wait.min(MAX_RESET_WAIT))
    }
}

/// One GitLab API client over the run's transport: the token, JSON accepted, the rate limit
/// kept. Git refs and the container registry implementation both send through it.
pub struct Api {
    pub transport: Transport,
    auth: (HeaderName, HeaderValue),
    limit: RateLimit,
}

impl Api {
    pub fn new(transport: Transport, token: &Token) -> Result<Api> {
        Ok(Api {
            transport,
            auth: token.header()?,
            limit: RateLimit::default(),
        })
    }

    /// Sends one API request (never with registry credentials), waiting for a spent window's
    /// reset first.
    pub async fn send(&self, method: Method, url: Url) -> Result<reqwest::Response> {
        if let Some(wait) = self.limit.wait(SystemTime::now()) {
            let api = crate::registry::transport::host_port(&url);
            self.transport.wait(&api, wait, "RateLimit-Reset").await?;
        }
        let mut req = Request::new(method, url);
        req.registry_auth = false;
        req.headers.insert(self.auth.0.clone(), self.auth.1.clone());
        req.headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let resp = self.transport.send(req).await?;
        self.limit.note(resp.headers());
        Ok(resp)
    }
}

/// The next page: `Link rel="next"` on the same origin, else `X-Next-Page` (empty or absent on
/// the last page). A `Link` to another origin is never followed: the token would go with it.
pub fn next_page(headers: &HeaderMap, current: &Url, first: &Url) -> Result<Option<Url>> {
    let link = next_link(headers, current);
    if let Some(next) = &link
        && next.origin() == first.origin()
    {
        return Ok(Some(next.clone()));
    }
    let x_next = headers
        .get("x-next-page")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (x_next, link) {
        (Some(n), _) => {
            let page: u64 = n
                .parse()
                .map_err(|_| GitLabError::BadNextPage(n.to_string()))?;
            let mut next = first.clone();
            next.query_pairs_mut()
                .append_pair("page", &page.to_string());
            Ok(Some(next))
        }
        (None, Some(other)) => Err(GitLabError::ForeignNextPage {
            next: redact_url(&other),
            origin: first.origin().ascii_serialization(),
        }
        .into()),
        (None, None) => Ok(None),
    }
}

fn failure(status: StatusCode, body: &str, project: &str, what: &str, url: &Url) -> Error {
    match status.as_u16() {
        401 => GitLabError::Refused.into(),
        403 => GitLabError::Forbidden {
            what: what.to_string(),
            project: project.to_string(),
        }
        .into(),
        404 => GitLabError::NotFound {
            project: project.to_string(),
        }
        .into(),
        code => {
            let detail = MessageError::detail(body);
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(": {}", crate::secret::scrub(&detail))
            };
            GitLabError::Status {
                url: redact_url(url),
                status: code,
                detail,
            }
            .into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_are_encoded_once() {
        let api = Url::parse("https://gitlab.example/api/v4/").unwrap();
        let u = first_page(&api, "group/sub/project", "branches").unwrap();
        assert_eq!(
            u.as_str(),
            "https://gitlab.example/api/v4/projects/group%2Fsub%2Fproject/repository/branches?per_page=100"
        );
        let api = Url::parse("https://gitlab.example/api/v4").unwrap();
        let u = first_page(&api, "42", "tags").unwrap();
        assert_eq!(
            u.as_str(),
            "https://gitlab.example/api/v4/projects/42/repository/tags?per_page=100"
        );
    }

    #[test]
    fn next_page_prefers_same_origin_link_then_x_next_page() {
        let first =
            Url::parse("https://g.example/api/v4/projects/1/repository/tags?per_page=100").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-next-page", HeaderValue::from_static("3"));
        assert_eq!(
            next_page(&h, &first, &first).unwrap().unwrap().as_str(),
            "https://g.example/api/v4/projects/1/repository/tags?per_page=100&page=3"
        );
        h.insert("x-next-page", HeaderValue::from_static(""));
        assert!(next_page(&h, &first, &first).unwrap().is_none());
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://g.example/api/v4/projects/1/repository/tags?pagination=keyset&per_page=100&page_token=x>; rel=\"next\"",
            ),
        );
        assert!(
            next_page(&h, &first, &first)
                .unwrap()
                .unwrap()
                .as_str()
                .contains("page_token=x")
        );
        h.insert(
            "link",
            HeaderValue::from_static("<https://evil.example/x?page=2>; rel=\"next\""),
        );
        assert!(next_page(&h, &first, &first).is_err());
        h.insert("x-next-page", HeaderValue::from_static("2"));
        assert!(
            next_page(&h, &first, &first)
                .unwrap()
                .unwrap()
                .as_str()
                .starts_with("https://g.example/")
        );
    }

    /// The exact texts users read (pinned before the typed error replaced the format! calls).
    #[test]
    fn failure_messages_are_pinned() {
        use crate::error::Kind;
        let u =
            Url::parse("https://g.example/api/v4/projects/1/repository/tags?private_token=s3cr3t")
                .unwrap();
        let shown = |status: u16, body: &str| {
            let e = failure(
                StatusCode::from_u16(status).unwrap(),
                body,
                "g/p",
                "tags",
                &u,
            );
            (e.kind, e.to_string())
        };
        assert_eq!(
            shown(401, ""),
            (
                Kind::Auth,
                "the GitLab token was refused\n  hint: check that the token is valid and not \
                 expired (PRIVATE-TOKEN, CI_JOB_TOKEN or OAuth)"
                    .to_string()
            )
        );
        assert_eq!(
            shown(403, ""),
            (
                Kind::Auth,
                "the GitLab token may not read the tags of project g/p\n  hint: a personal, \
                 project or group token needs the read_api (or read_repository) scope; \
                 CI_JOB_TOKEN works only for the pipeline's own project"
                    .to_string()
            )
        );
        assert_eq!(
            shown(404, ""),
            (
                Kind::Input,
                "GitLab project g/p not found (or the token cannot see it)\n  hint: check \
                 --gitlab-project (CI_PROJECT_ID in GitLab CI) and the GitLab API URL"
                    .to_string()
            )
        );
        let (kind, text) = shown(502, "  bad gateway  ");
        assert_eq!(kind, Kind::Operation);
        assert_eq!(
            text,
            format!(
                "GitLab answered GET {} with HTTP 502: bad gateway",
                redact_url(&u)
            )
        );
        let (_, text) = shown(500, "");
        assert_eq!(
            text,
            format!("GitLab answered GET {} with HTTP 500", redact_url(&u))
        );
        let (_, text) = shown(400, r#"{"message":{"per_page":["is invalid"]}}"#);
        assert!(
            text.ends_with(r#"HTTP 400: {"per_page":["is invalid"]}"#),
            "{text}"
        );
    }

    #[test]
    fn other_errors_carry_the_message() {
        let u = Url::parse("https://g.example/api/v4/projects/1/repository/tags").unwrap();
        let e = failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"message":"500 Internal Server Error"}"#,
            "1",
            "tags",
            &u,
        );
        assert_eq!(e.kind, crate::error::Kind::Operation);
        assert!(e.message.contains("500 Internal Server Error"), "{e}");
        let e = failure(
            StatusCode::BAD_REQUEST,
            r#"{"error":"per_page is invalid"}"#,
            "1",
            "tags",
            &u,
        );
        assert!(e.message.contains("per_page is invalid"), "{e}");
    }

    #[test]
    fn a_spent_window_waits_for_its_reset_once() {
        let limit = RateLimit::default();
        let now = SystemTime::now();
        let reset = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 5;
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-remaining", HeaderValue::from_static("7"));
        headers.insert("ratelimit-reset", HeaderValue::from(reset));
        limit.note(&headers);
        assert_eq!(limit.wait(now), None, "budget left: no wait");
        headers.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        limit.note(&headers);
        let wait = limit.wait(now).unwrap();
        assert!(
            wait > Duration::from_secs(3) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
        assert_eq!(limit.wait(now), None, "waited once");
        headers.insert("ratelimit-reset", HeaderValue::from(reset + 3600));
        limit.note(&headers);
        assert_eq!(limit.wait(now), Some(MAX_RESET_WAIT));
    }
}
