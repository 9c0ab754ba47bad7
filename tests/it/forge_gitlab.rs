//! GitLab branch and tag listing against an in-test fake of the REST API v4 that follows GitLab's
//! documented behaviour: `:id` as one path segment (numeric or the path with `/` as `%2F`,
//! decoded once), `PRIVATE-TOKEN` / `JOB-TOKEN` / `Authorization: Bearer`, the job token only on
//! its own project, offset paging with `per_page` (default 20, clamped to 100), `page` from 1,
//! the `X-*` paging headers and `Link`.

use crate::support;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dockhand::Kind;
use dockhand::forge::gitlab::{Token, refs};
use dockhand::registry::credentials::CredentialStore;
use dockhand::registry::transport::{Transport, TransportConfig};
use dockhand::secret::Secret;
use url::Url;

#[derive(Clone, Copy, PartialEq)]
enum Paging {
    /// `X-Next-Page` and friends plus `Link` (GitLab's offset pagination).
    Both,
    /// Only the `X-*` headers (a proxy that drops `Link`).
    HeadersOnly,
}

struct Project {
    branches: Vec<String>,
    tags: Vec<String>,
}

struct Fake {
    paging: Paging,
    projects: HashMap<String, Arc<Project>>,
    /// `GET` path and query of every request, as received (still encoded).
    seen: Mutex<Vec<String>>,
    /// The `PRIVATE-TOKEN` and `Authorization` headers of every request.
    auth: Mutex<Vec<(Option<String>, Option<String>)>>,
}

fn big_project() -> Arc<Project> {
    let mut branches = vec!["main".to_string()];
    branches.extend((1..250).map(|i| format!("feature/x-{i}")));
    let tags = (0..120)
        .map(|i| format!("v1.{}.{}", i / 10, i % 10))
        .collect();
    Arc::new(Project { branches, tags })
}

fn fake(paging: Paging) -> Arc<Fake> {
    let big = big_project();
    let other = Arc::new(Project {
        branches: vec!["main".into(), "dev".into()],
        tags: vec!["v0.1.0".into()],
    });
    let mut projects = HashMap::new();
    projects.insert("42".to_string(), big.clone());
    projects.insert("group/sub/project".to_string(), big);
    projects.insert("7".to_string(), other.clone());
    projects.insert("other/project".to_string(), other);
    Arc::new(Fake {
        paging,
        projects,
        seen: Mutex::new(Vec::new()),
        auth: Mutex::new(Vec::new()),
    })
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::json!({ "message": message }).to_string(),
    )
        .into_response()
}

async fn listing(
    fake: Arc<Fake>,
    id: String,
    what: &str,
    query: HashMap<String, String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    fake.seen.lock().unwrap().push(
        uri.path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
    );
    if id == "500" {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error",
        );
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    fake.auth.lock().unwrap().push((
        header("private-token").map(str::to_string),
        header("authorization").map(str::to_string),
    ));
    let job = header("job-token") == Some("job");
    let authed = header("private-token") == Some("good")
        || header("authorization") == Some("Bearer oauth")
        || job;
    if !authed {
        return json_error(StatusCode::UNAUTHORIZED, "401 Unauthorized");
    }
    // `id` is the path segment decoded once: a double-encoded `%252F` arrives as `%2F`.
    let Some(project) = fake.projects.get(&id).cloned() else {
        return json_error(StatusCode::NOT_FOUND, "404 Project Not Found");
    };
    if job && id != "42" && id != "group/sub/project" {
        return json_error(StatusCode::FORBIDDEN, "403 Forbidden");
    }
    let items = if what == "branches" {
        &project.branches
    } else {
        &project.tags
    };
    let items = items
        .iter()
        .map(|n| serde_json::json!({ "name": n, "merged": false, "protected": n == "main" }))
        .collect();
    // GitLab's links carry the project id as a query parameter too.
    let host = header("host").unwrap_or("localhost").to_string();
    let link_for = |p: usize, per_page: usize| {
        let mut u = Url::parse(&format!("http://{host}{}", uri.path())).unwrap();
        u.query_pairs_mut()
            .append_pair("id", &id)
            .append_pair("page", &p.to_string())
            .append_pair("per_page", &per_page.to_string());
        u.to_string()
    };
    support::fake_gitlab::offset_page(
        items,
        &query,
        (fake.paging == Paging::Both).then_some(&link_for),
    )
}

async fn serve(fake: Arc<Fake>) -> Url {
    let app = Router::new()
        .route(
            "/api/v4/projects/{id}/repository/branches",
            get(
                |State(f): State<Arc<Fake>>,
                 Path(id): Path<String>,
                 Query(q): Query<HashMap<String, String>>,
                 headers: HeaderMap,
                 uri: Uri| async move {
                    listing(f, id, "branches", q, headers, uri).await
                },
            ),
        )
        .route(
            "/api/v4/projects/{id}/repository/tags",
            get(
                |State(f): State<Arc<Fake>>,
                 Path(id): Path<String>,
                 Query(q): Query<HashMap<String, String>>,
                 headers: HeaderMap,
                 uri: Uri| async move { listing(f, id, "tags", q, headers, uri).await },
            ),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Url::parse(&format!("http://{addr}/api/v4")).unwrap()
}

fn transport() -> Transport {
    Transport::new(TransportConfig::default(), CredentialStore::default()).unwrap()
}

fn expected() -> (BTreeSet<String>, BTreeSet<String>) {
    let p = big_project();
    (
        p.branches.iter().cloned().collect(),
        p.tags.iter().cloned().collect(),
    )
}

fn private() -> Token {
    Token::Private(Secret::new("good"))
}

#[tokio::test]
async fn encoded_path_lists_everything_in_five_requests() {
    let fake = fake(Paging::Both);
    let api = serve(fake.clone()).await;
    let t = transport();
    let r = refs(&t, &api, &private(), "group/sub/project")
        .await
        .unwrap();
    let (branches, tags) = expected();
    assert_eq!(r.branches.len(), 250);
    assert_eq!(r.tags.len(), 120);
    assert_eq!(r.branches, branches);
    assert_eq!(r.tags, tags);
    assert!(r.branches.contains("feature/x-249"));
    assert!(r.recent_commits.is_none());
    assert_eq!(t.requests_sent(), 5);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "{seen:#?}");
    assert_eq!(
        seen[0],
        "/api/v4/projects/group%2Fsub%2Fproject/repository/branches?per_page=100"
    );
    // Page 2 came from `Link rel="next"` (GitLab puts route params in its query).
    assert_eq!(
        seen[1],
        "/api/v4/projects/group%2Fsub%2Fproject/repository/branches?id=group%2Fsub%2Fproject&page=2&per_page=100"
    );
    assert_eq!(seen.iter().filter(|s| s.contains("/branches")).count(), 3);
    assert_eq!(seen.iter().filter(|s| s.contains("/tags")).count(), 2);
    for s in &seen {
        assert!(s.contains("per_page=100"), "{s}");
        assert!(s.contains("/projects/group%2Fsub%2Fproject/"), "{s}");
        assert!(!s.contains("%25"), "double-encoded: {s}");
    }
}

#[tokio::test]
async fn numeric_id_with_x_next_page_only() {
    let fake = fake(Paging::HeadersOnly);
    let api = serve(fake.clone()).await;
    let t = transport();
    let r = refs(&t, &api, &private(), "42").await.unwrap();
    let (branches, tags) = expected();
    assert_eq!(r.branches, branches);
    assert_eq!(r.tags, tags);
    assert_eq!(t.requests_sent(), 5);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            "/api/v4/projects/42/repository/branches?per_page=100",
            "/api/v4/projects/42/repository/branches?per_page=100&page=2",
            "/api/v4/projects/42/repository/branches?per_page=100&page=3",
            "/api/v4/projects/42/repository/tags?per_page=100",
            "/api/v4/projects/42/repository/tags?per_page=100&page=2",
        ]
    );
}

#[tokio::test]
async fn job_and_oauth_tokens_on_their_project() {
    let api = serve(fake(Paging::Both)).await;
    let t = transport();
    let (branches, tags) = expected();
    for token in [
        Token::Job(Secret::new("job")),
        Token::Bearer(Secret::new("oauth")),
    ] {
        let r = refs(&t, &api, &token, "group/sub/project").await.unwrap();
        assert_eq!(r.branches, branches);
        assert_eq!(r.tags, tags);
    }
    let r = refs(
        &t,
        &api,
        &Token::Bearer(Secret::new("oauth")),
        "other/project",
    )
    .await
    .unwrap();
    assert_eq!(r.branches.len(), 2);
    assert_eq!(r.tags.len(), 1);
}

#[tokio::test]
async fn job_token_on_another_project_is_auth_with_hint() {
    let api = serve(fake(Paging::Both)).await;
    let t = transport();
    for project in ["7", "other/project"] {
        let e = refs(&t, &api, &Token::Job(Secret::new("job")), project)
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::Auth, "{e}");
        let hint = e.hint.clone().unwrap_or_default();
        assert!(hint.contains("CI_JOB_TOKEN"), "{hint}");
        assert!(hint.contains("read_api"), "{hint}");
        assert_eq!(e.exit_code(), 3);
    }
}

#[tokio::test]
async fn bad_token_is_auth() {
    let api = serve(fake(Paging::Both)).await;
    let t = transport();
    for token in [
        Token::Private(Secret::new("wrong-token-value")),
        Token::Job(Secret::new("wrong-job-token")),
        Token::Bearer(Secret::new("wrong-oauth-token")),
    ] {
        let e = refs(&t, &api, &token, "42").await.unwrap_err();
        assert_eq!(e.kind, Kind::Auth, "{e}");
        assert!(e.message.contains("refused"), "{e}");
        assert!(!e.to_string().contains("wrong-"), "token leaked: {e}");
    }
}

#[tokio::test]
async fn unknown_project_is_input() {
    let api = serve(fake(Paging::Both)).await;
    let t = transport();
    for project in ["99", "group/nope"] {
        let e = refs(&t, &api, &private(), project).await.unwrap_err();
        assert_eq!(e.kind, Kind::Input, "{e}");
        assert!(e.message.contains(project), "{e}");
        assert!(e.message.contains("not found"), "{e}");
        assert!(e.hint.unwrap_or_default().contains("--gitlab-project"));
    }
}

#[tokio::test]
async fn double_encoded_path_is_not_found_by_the_fake() {
    // The fake decodes the segment once, like GitLab: `%252F` is not a project.
    let api = serve(fake(Paging::Both)).await;
    let url = format!("{api}/projects/group%252Fsub%252Fproject/repository/branches");
    let resp = reqwest::Client::new()
        .get(&url)
        .header("PRIVATE-TOKEN", "good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let url = format!("{api}/projects/group%2Fsub%2Fproject/repository/branches?per_page=500");
    let resp = reqwest::Client::new()
        .get(&url)
        .header("PRIVATE-TOKEN", "good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-per-page"], "100");
    assert_eq!(resp.headers()["x-total-pages"], "3");
    let resp = reqwest::Client::new()
        .get(format!("{api}/projects/42/repository/tags"))
        .header("PRIVATE-TOKEN", "good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-per-page"], "20");
    assert_eq!(resp.headers()["x-next-page"], "2");
    assert!(
        resp.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"next\"")
    );
}

#[tokio::test]
async fn server_error_is_operation_with_message() {
    let api = serve(fake(Paging::Both)).await;
    let t = transport();
    let e = refs(&t, &api, &private(), "500").await.unwrap_err();
    assert_eq!(e.kind, Kind::Operation, "{e}");
    assert!(e.message.contains("500 Internal Server Error"), "{e}");
}

/// `--gitlab-token oauth2:<token>` on the command line reaches the refs API as
/// `Authorization: Bearer <token>` (as the registry side already sent it), not as a literal
/// `PRIVATE-TOKEN: oauth2:<token>` that GitLab refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_token_option_goes_as_bearer_on_the_refs_path() {
    let reg = support::RegistryServer::anonymous();
    let fake = fake(Paging::Both);
    let api = serve(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let repo = format!("{}/gl", reg.host());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dockhand"))
            .args([
                "cleanup",
                "-i",
                &repo,
                "--image",
                "app",
                "--git-refs",
                "gitlab",
                "--gitlab-token",
                "oauth2:oauth",
                "--gitlab-api-url",
                api.as_str(),
                "--gitlab-project",
                "42",
                "--grace",
                "0",
                "--dry-run",
            ])
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let auth = fake.auth.lock().unwrap().clone();
    assert!(!auth.is_empty(), "the refs API was asked: {stderr}");
    for (private, authorization) in &auth {
        assert_eq!(private.as_deref(), None, "no PRIVATE-TOKEN header");
        assert_eq!(authorization.as_deref(), Some("Bearer oauth"));
    }
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("oauth"),
        "the token is never printed: {stderr}"
    );
}
