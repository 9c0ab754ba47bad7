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
use std::time::Duration;

use graphql_client::GraphQLQuery;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::cleanup::model::GitRefs;
use crate::error::{Error, Kind, Result};
use crate::registry::paging::Pages;
use crate::registry::transport::{Body, Request, Transport};
use crate::secret::{Secret, redact_url, scrub};

/// Refs per page: the most GitHub serves on one connection page.
const PAGE_SIZE: i64 = 100;
/// Waits allowed for GitHub's secondary rate limit (a 403 with `Retry-After`), per run.
const MAX_SECONDARY_WAITS: u32 = 3;
/// The longest single wait for the secondary rate limit; a longer `Retry-After` is an error.
const MAX_SECONDARY_WAIT: Duration = Duration::from_secs(60);

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
struct Reply {
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

/// A REST-style error body (`{"message": "Bad credentials", "documentation_url": …}`).
#[derive(Deserialize)]
struct RestError {
    message: Option<String>,
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
        transport,
        endpoint,
        authorization: authorization(token)?,
        owner,
        repo,
        secondary_waits: 0,
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
    transport: &'a Transport,
    endpoint: Url,
    authorization: HeaderValue,
    owner: &'a str,
    repo: &'a str,
    secondary_waits: u32,
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

    /// One page: sends the query (waiting out the secondary rate limit) and maps the reply.
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

        let resp = loop {
            let resp = self.transport.send(req.clone()).await?;
            if resp.status() != StatusCode::FORBIDDEN {
                break resp;
            }
            let Some(wait) = retry_after(&resp) else {
                break resp;
            };
            if self.secondary_waits >= MAX_SECONDARY_WAITS || wait > MAX_SECONDARY_WAIT {
                return Err(Error::operation(format!(
                    "GitHub's secondary rate limit still applies to {} (it asks to wait {}s)",
                    redact_url(&self.endpoint),
                    wait.as_secs()
                ))
                .with_hint("retry later, or run fewer jobs against the GitHub API at once"));
            }
            self.secondary_waits += 1;
            crate::log::debug(&format!(
                "GitHub secondary rate limit: waiting {}s before retrying",
                wait.as_secs()
            ));
            // Taken from the run-wide retry budget, as every other rate-limit wait is
            // (docs/ARCHITECTURE.md, "The transport"); a raw sleep here escaped it.
            let api = crate::registry::transport::host_port(&self.endpoint);
            self.transport
                .wait(&api, wait, "GitHub secondary rate limit")
                .await?;
        };

        let status = resp.status();
        let rate_limited = resp
            .headers()
            .get("x-ratelimit-remaining")
            .is_some_and(|v| v.as_bytes() == b"0");
        let bytes = resp.bytes().await.map_err(|source| GitHubError::Read {
            url: redact_url(&self.endpoint),
            source,
        })?;
        if status != StatusCode::OK {
            return Err(self.http_error(status, rate_limited, &bytes));
        }
        let reply: Reply = serde_json::from_slice(&bytes).map_err(|source| GitHubError::Reply {
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
        let message = serde_json::from_slice::<RestError>(body)
            .ok()
            .and_then(|e| e.message)
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

/// `Retry-After` in seconds (GitHub sends delta-seconds).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let value = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    crate::registry::retry::parse_retry_after(value, std::time::SystemTime::now())
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
}
