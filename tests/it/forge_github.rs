//! `forge::github::refs` against an in-test fake of GitHub's GraphQL endpoint.
//!
//! The fake serves `repository(owner, name) { refs(refPrefix, first, after) { … } }` the way
//! GitHub does: Bearer auth with a REST-style 401 body, `first` limited to 1..=100 (a GraphQL
//! error otherwise), opaque cursors, `repository: null` plus a NOT_FOUND error for a repository
//! it does not know, FORBIDDEN for a token without access, and a secondary rate limit mode.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use dockhand::error::Kind;
use dockhand::forge::github;
use dockhand::registry::credentials::CredentialStore;
use dockhand::registry::transport::{Transport, TransportConfig};
use dockhand::secret::Secret;
use serde_json::{Value, json};
use url::Url;

const BRANCHES: usize = 230;
const TAGS: [&str; 3] = ["v1.0.0", "v1.1.0", "v2.0.0-rc.1"];

fn branch_names() -> Vec<String> {
    let mut names: Vec<String> = (0..BRANCHES)
        .map(|i| match i {
            0 => "main".to_string(),
            i if i % 2 == 0 => format!("feature/topic-{i:03}"),
            i => format!("fix-{i:03}"),
        })
        .collect();
    names.sort(); // GitHub lists refs in name order.
    names
}

#[derive(Default)]
struct Fake {
    requests: AtomicUsize,
    paths: Mutex<Vec<String>>,
    /// Pages served, as (refPrefix, after) pairs.
    pages: Mutex<Vec<(String, Option<String>)>>,
    /// Answer the next request with a secondary rate limit.
    secondary_limit: AtomicBool,
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn graphql_errors(errors: Value, data: Value) -> Response {
    json_response(StatusCode::OK, json!({ "data": data, "errors": errors }))
}

fn cursor(prefix: &str, offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{prefix}:{offset}"))
}

fn decode_cursor(prefix: &str, cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    raw.strip_prefix(&format!("cursor:v2:{prefix}:"))?
        .parse()
        .ok()
}

async fn graphql(
    State(fake): State<Arc<Fake>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    fake.paths.lock().unwrap().push(uri.path().to_string());
    if fake.secondary_limit.swap(false, Ordering::SeqCst) {
        let body = json!({
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "documentation_url": "https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api#secondary-rate-limits",
            "status": "403"
        });
        let mut resp = json_response(StatusCode::FORBIDDEN, body);
        resp.headers_mut()
            .insert("retry-after", "1".parse().unwrap());
        return resp;
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !matches!(token, Some("good-token" | "no-contents-token")) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/graphql",
                "status": "401"
            }),
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(content_type, "application/json");
    assert!(
        headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("dockhand/")),
        "GitHub rejects requests without a User-Agent"
    );
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Problems parsing JSON", "status": "400" }),
        );
    };
    let query = request["query"].as_str().unwrap_or_default();
    if !query.contains("repository(owner: $owner, name: $name)")
        || !query.contains("refs(refPrefix: $refPrefix, first: $first, after: $after)")
    {
        return graphql_errors(
            json!([{ "message": "This fake only answers the repository refs query" }]),
            Value::Null,
        );
    }
    let vars = &request["variables"];
    let owner = vars["owner"].as_str().unwrap_or_default();
    let name = vars["name"].as_str().unwrap_or_default();
    let prefix = vars["refPrefix"].as_str().unwrap_or_default().to_string();
    let after = vars["after"].as_str().map(str::to_string);
    let Some(first) = vars["first"].as_i64() else {
        return graphql_errors(
            json!([{
                "type": "MISSING_PAGINATION_BOUNDARIES",
                "path": ["repository", "refs"],
                "message": "You must provide a `first` or `last` value to properly paginate the `refs` connection."
            }]),
            json!({ "repository": null }),
        );
    };
    if !(1..=100).contains(&first) {
        return graphql_errors(
            json!([{
                "type": "EXCESSIVE_PAGINATION",
                "path": ["repository", "refs"],
                "message": format!("Requesting {first} records on the `refs` connection exceeds the `first` limit of 100 records.")
            }]),
            json!({ "repository": null }),
        );
    }
    match (owner, name) {
        ("acme", "app") if token == Some("no-contents-token") => {
            return graphql_errors(
                json!([{
                    "type": "FORBIDDEN",
                    "path": ["repository"],
                    "message": "Resource not accessible by integration"
                }]),
                json!({ "repository": null }),
            );
        }
        ("acme", "app") => {}
        ("acme", "broken") => {
            return graphql_errors(
                json!([{
                    "message": "Something went wrong while executing your query. Please include `ABCD:1234` when reporting this issue."
                }]),
                json!({ "repository": null }),
            );
        }
        _ => {
            return graphql_errors(
                json!([{
                    "type": "NOT_FOUND",
                    "path": ["repository"],
                    "locations": [{ "line": 8, "column": 3 }],
                    "message": format!("Could not resolve to a Repository with the name '{owner}/{name}'.")
                }]),
                json!({ "repository": null }),
            );
        }
    }
    let names: Vec<String> = match prefix.as_str() {
        "refs/heads/" => branch_names(),
        "refs/tags/" => TAGS.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    let start = match &after {
        None => 0,
        Some(c) => match decode_cursor(&prefix, c) {
            Some(offset) => offset + 1,
            None => {
                return graphql_errors(
                    json!([{
                        "type": "INVALID_CURSOR_ARGUMENTS",
                        "path": ["repository", "refs"],
                        "message": format!("`{c}` does not appear to be a valid cursor.")
                    }]),
                    json!({ "repository": null }),
                );
            }
        },
    };
    fake.pages.lock().unwrap().push((prefix.clone(), after));
    let end = (start + first as usize).min(names.len());
    let page = &names[start.min(end)..end];
    let nodes: Vec<Value> = page.iter().map(|n| json!({ "name": n })).collect();
    let end_cursor = if page.is_empty() {
        Value::Null
    } else {
        Value::String(cursor(&prefix, end - 1))
    };
    json_response(
        StatusCode::OK,
        json!({
            "data": {
                "repository": {
                    "refs": {
                        "totalCount": names.len(),
                        "pageInfo": { "hasNextPage": end < names.len(), "endCursor": end_cursor },
                        "nodes": nodes
                    }
                }
            }
        }),
    )
}

async fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/api/graphql", post(graphql))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (fake, format!("http://{addr}"))
}

fn transport() -> Transport {
    Transport::new(TransportConfig::default(), CredentialStore::default()).unwrap()
}

async fn refs(
    base: &str,
    token: &str,
    owner: &str,
    repo: &str,
) -> dockhand::error::Result<dockhand::cleanup::model::GitRefs> {
    github::refs(
        &transport(),
        &Url::parse(base).unwrap(),
        &Secret::new(token),
        owner,
        repo,
    )
    .await
}

#[tokio::test]
async fn all_branches_and_tags_in_pages_of_100() {
    let (fake, base) = start().await;
    let got = refs(&base, "good-token", "acme", "app").await.unwrap();
    let want: std::collections::BTreeSet<String> = branch_names().into_iter().collect();
    assert_eq!(got.branches.len(), BRANCHES);
    assert_eq!(got.branches, want);
    assert!(got.branches.contains("main") && got.branches.contains("feature/topic-002"));
    assert_eq!(
        got.tags.iter().map(String::as_str).collect::<Vec<_>>(),
        TAGS.to_vec()
    );
    assert_eq!(got.recent_commits, None);
    // 230 branches: pages of 100, 100, 30; 3 tags: one page.
    assert_eq!(fake.requests.load(Ordering::SeqCst), 4);
    let pages = fake.pages.lock().unwrap().clone();
    let prefixes: Vec<&str> = pages.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        prefixes,
        ["refs/heads/", "refs/heads/", "refs/heads/", "refs/tags/"]
    );
    assert_eq!(pages[0].1, None);
    assert_eq!(
        pages[1].1.as_deref(),
        Some(cursor("refs/heads/", 99).as_str())
    );
    assert_eq!(
        pages[2].1.as_deref(),
        Some(cursor("refs/heads/", 199).as_str())
    );
    assert_eq!(pages[3].1, None);
    assert!(fake.paths.lock().unwrap().iter().all(|p| p == "/graphql"));
}

#[tokio::test]
async fn trailing_slash_on_the_api_base() {
    let (fake, base) = start().await;
    let got = refs(&format!("{base}/"), "good-token", "acme", "app")
        .await
        .unwrap();
    assert_eq!((got.branches.len(), got.tags.len()), (BRANCHES, 3));
    assert!(fake.paths.lock().unwrap().iter().all(|p| p == "/graphql"));
}

#[tokio::test]
async fn enterprise_server_base_posts_to_api_graphql() {
    for suffix in ["/api/v3", "/api/v3/"] {
        let (fake, base) = start().await;
        let got = refs(&format!("{base}{suffix}"), "good-token", "acme", "app")
            .await
            .unwrap();
        assert_eq!((got.branches.len(), got.tags.len()), (BRANCHES, 3));
        let paths = fake.paths.lock().unwrap().clone();
        assert_eq!(paths, vec!["/api/graphql"; 4], "{suffix}");
    }
}

#[tokio::test]
async fn bad_token_is_an_auth_error_with_the_scope_hint() {
    let (fake, base) = start().await;
    let err = refs(&base, "bad-token-123456", "acme", "app")
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::Auth, "{err}");
    assert!(err.message.contains("401"), "{err}");
    assert!(err.message.contains("Bad credentials"), "{err}");
    let hint = err.hint.clone().unwrap();
    assert!(
        hint.contains("contents: read") && hint.contains("`repo`"),
        "{hint}"
    );
    assert!(!err.to_string().contains("bad-token-123456"), "{err}");
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1, "no retry on 401");
}

#[tokio::test]
async fn unknown_repository_is_an_auth_error() {
    let (fake, base) = start().await;
    let err = refs(&base, "good-token", "acme", "nope").await.unwrap_err();
    assert_eq!(err.kind, Kind::Auth, "{err}");
    assert!(err.message.contains("NOT_FOUND"), "{err}");
    assert!(err.message.contains("acme/nope"), "{err}");
    let hint = err.hint.unwrap();
    assert!(
        hint.contains("contents: read") && hint.contains("NOT_FOUND"),
        "{hint}"
    );
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn token_without_contents_access_is_an_auth_error() {
    let (_fake, base) = start().await;
    let err = refs(&base, "no-contents-token", "acme", "app")
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::Auth, "{err}");
    assert!(err.message.contains("FORBIDDEN"), "{err}");
    assert!(err.hint.unwrap().contains("contents: read"));
}

#[tokio::test]
async fn other_graphql_errors_are_operation_errors() {
    let (_fake, base) = start().await;
    let err = refs(&base, "good-token", "acme", "broken")
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::Operation, "{err}");
    assert!(err.message.contains("Something went wrong"), "{err}");
}

#[tokio::test]
async fn missing_endpoint_is_an_operation_error() {
    let (_fake, base) = start().await;
    let err = refs(&format!("{base}/nothing/here"), "good-token", "acme", "app")
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::Operation, "{err}");
    assert!(err.message.contains("404"), "{err}");
}

#[tokio::test]
async fn secondary_rate_limit_is_waited_out() {
    let (fake, base) = start().await;
    fake.secondary_limit.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let got = refs(&base, "good-token", "acme", "app").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!((got.branches.len(), got.tags.len()), (BRANCHES, 3));
    assert!(elapsed >= Duration::from_secs(1), "waited {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "waited {elapsed:?}");
    // The refused request, then 3 branch pages and 1 tag page.
    assert_eq!(fake.requests.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn fake_rejects_pages_larger_than_github_allows() {
    // The limit the client's page size is held to: GitHub refuses first > 100.
    let (_fake, base) = start().await;
    let body = json!({
        "query": "query RepositoryRefs { repository(owner: $owner, name: $name) { refs(refPrefix: $refPrefix, first: $first, after: $after) { totalCount } } }",
        "variables": { "owner": "acme", "name": "app", "refPrefix": "refs/heads/", "first": 101 }
    });
    let resp = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("authorization", "Bearer good-token")
        .header("content-type", "application/json")
        .header("user-agent", "dockhand/test")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reply: Value = resp.json().await.unwrap();
    assert_eq!(reply["errors"][0]["type"], "EXCESSIVE_PAGINATION");
    assert!(reply["data"]["repository"].is_null());
}
