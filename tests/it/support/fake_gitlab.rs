//! A GitLab fake: the REST API v4 container-registry endpoints and the registry data plane on
//! one loopback server (the in-memory OCI fake with a GitLab profile), the way a self-managed
//! GitLab whose registry shares the instance's host looks to a client.
//!
//! What it reproduces, each from docs/registries.md#gitlab and #test-fakes unless noted:
//! - project ids numeric or the full path encoded once as `%2F` (decoded once: `%252F` is
//!   another, unknown project);
//! - `GET /projects/:id/registry/repositories`: `{id, name, path, location, …}`, the root image
//!   with `name: ""`; nested images up to two levels below the project;
//! - `GET …/repositories/:rid/tags`: `per_page` (default 20, at most 100) and `page`, with
//!   `X-Total`, `X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page` and `Link`;
//!   or keyset paging (`pagination=keyset`, or always in [`Paging::Keyset`]) with only a `Link`
//!   carrying the last name seen [U: cursor parameter name];
//! - `GET …/tags/:tag`: `digest`, `revision`, `created_at` with a `+02:00` offset, `total_size`;
//! - `DELETE …/tags/:tag` → 200; a protected tag → 403; unknown → 404 `{"message":"404 Tag Not
//!   Found"}`; switched off → 405 (an instance whose REST route refuses: [U], to reach the
//!   legacy variant);
//! - bulk `DELETE …/tags` → 202, then 400 within the hour for that repository;
//! - `PRIVATE-TOKEN` (scope `api` or `read_api`: a write with `read_api` → 403
//!   `insufficient_scope`), `JOB-TOKEN` (its own project only, else 403), `Authorization:
//!   Bearer` (OAuth); nothing or an unknown token → 401;
//! - registry: Bearer realm `/jwt/auth`, service `container_registry`, Basic `gitlab-ci-token` +
//!   job token (own project), any user + an `api` token, `oauth2` + an OAuth token;
//!   `Gitlab-Container-Registry-Version`/`-Features`/`-Database-Enabled` headers, with or without
//!   `tag_delete` (the registry tag DELETE untags only when advertised, else 400
//!   `DIGEST_INVALID` as distribution 2.x does); the legacy `DELETE /v2/<path>/tags/reference/<tag>`
//!   (202) when switched on; digest DELETE removes every tag on it; a protected tag (or a digest
//!   carrying one) → 403 `DENIED` ([D] docs.gitlab.com …/protected_container_tags: protected tags
//!   cannot be deleted by users below the rule's role).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::fake_oci::{
    Auth, Credentials, DigestDelete, FakeHandle, FakeOci, Grants, Hooks, Need, OciError, Profile,
    TagDelete, V2Request,
};

/// How the tag list pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// Offset paging: `X-*` headers and `Link`; keyset when the client asks for it.
    Offset,
    /// Offset paging with the `X-*` headers only (a proxy that drops `Link`).
    HeadersOnly,
    /// Keyset paging whatever was asked: only a `Link` with the cursor.
    Keyset,
}

/// What a `PRIVATE-TOKEN` may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenScope {
    Api,
    ReadApi,
}

/// The behaviour of one fake GitLab.
#[derive(Clone, Debug)]
pub struct GitlabOptions {
    /// (numeric id, full path) of each project.
    pub projects: Vec<(u64, String)>,
    /// `Gitlab-Container-Registry-Features`; None leaves the header out.
    pub features: Option<String>,
    /// The REST tag DELETE answers (false: 405).
    pub rest_tag_delete: bool,
    /// The legacy registry `tags/reference` route exists.
    pub legacy_reference: bool,
    pub paging: Paging,
    /// Tag protection rules (RE2-like regexes, matched against the tag name).
    pub protected: Vec<String>,
    pub private_tokens: Vec<(String, TokenScope)>,
    /// The job token and the id of its project.
    pub job_token: Option<(String, u64)>,
    pub oauth_tokens: Vec<String>,
}

impl Default for GitlabOptions {
    fn default() -> Self {
        GitlabOptions {
            projects: vec![(42, "group/project".into())],
            features: Some("tag_delete".into()),
            rest_tag_delete: true,
            legacy_reference: true,
            paging: Paging::Offset,
            protected: Vec::new(),
            private_tokens: vec![
                ("glpat-api".into(), TokenScope::Api),
                ("glpat-read".into(), TokenScope::ReadApi),
            ],
            job_token: Some(("job-secret".into(), 42)),
            oauth_tokens: vec!["oauth-token".into()],
        }
    }
}

struct State_ {
    opts: Mutex<GitlabOptions>,
    /// Registry path → repository id (assigned when first listed).
    repo_ids: Mutex<BTreeMap<String, u64>>,
    /// Repository id → time of the last accepted bulk delete.
    bulk: Mutex<HashMap<u64, Instant>>,
}

#[derive(Clone)]
struct Ctx {
    h: FakeHandle,
    s: Arc<State_>,
}

impl Ctx {
    fn opts(&self) -> GitlabOptions {
        self.s.opts.lock().unwrap().clone()
    }
}

/// A running fake GitLab; dereferences to the OCI fake (store, request log, faults).
pub struct FakeGitlab {
    oci: FakeOci,
    state: Arc<State_>,
}

impl std::ops::Deref for FakeGitlab {
    type Target = FakeOci;
    fn deref(&self) -> &FakeOci {
        &self.oci
    }
}

fn protected(opts: &GitlabOptions, tag: &str) -> bool {
    opts.protected
        .iter()
        .any(|p| regex::Regex::new(p).is_ok_and(|r| r.is_match(tag)))
}

/// The project a registry path belongs to: the longest project path that is the path or a
/// prefix of it with at most two more levels.
fn project_of<'a>(opts: &'a GitlabOptions, path: &str) -> Option<&'a (u64, String)> {
    opts.projects
        .iter()
        .filter(|(_, p)| {
            path == p
                || path
                    .strip_prefix(p.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| rest.split('/').count() <= 2)
        })
        .max_by_key(|(_, p)| p.len())
}

impl FakeGitlab {
    pub fn start(opts: GitlabOptions) -> FakeGitlab {
        let state = Arc::new(State_ {
            opts: Mutex::new(opts.clone()),
            repo_ids: Mutex::default(),
            bulk: Mutex::default(),
        });
        let profile = registry_profile(&opts, state.clone());
        let s2 = state.clone();
        let oci = FakeOci::start_with(profile, move |h| rest_router(Ctx { h, s: s2 }));
        FakeGitlab { oci, state }
    }

    /// Changes the options of the running fake (the registry profile follows).
    pub fn update(&self, f: impl FnOnce(&mut GitlabOptions)) {
        let opts = {
            let mut o = self.state.opts.lock().unwrap();
            f(&mut o);
            o.clone()
        };
        let profile = registry_profile(&opts, self.state.clone());
        self.oci.update_profile(|p| *p = profile);
    }

    /// `http://127.0.0.1:PORT/api/v4`
    pub fn api_url(&self) -> String {
        format!("{}/api/v4", self.oci.url())
    }

    /// Requests to the REST API with `method` whose path contains `part`, 401 challenges left
    /// out.
    pub fn rest(&self, method: &str, part: &str) -> usize {
        self.count(method, "/api/v4/", |p| p.contains(part))
    }

    /// Requests to the REST API with `method` and exactly this path.
    pub fn rest_exact(&self, method: &str, path: &str) -> usize {
        self.count(method, "/api/v4/", |p| p == path)
    }

    /// Registry (`/v2/`) requests with `method` whose path contains `part`; a request answered
    /// 401 (the token challenge before its retry) is left out, so each operation counts once.
    pub fn registry(&self, method: &str, part: &str) -> usize {
        self.count(method, "/v2/", |p| p.contains(part))
    }

    fn count(&self, method: &str, prefix: &str, path: impl Fn(&str) -> bool) -> usize {
        self.oci
            .requests()
            .iter()
            .filter(|r| {
                r.method == method && r.status != 401 && r.path.starts_with(prefix) && path(&r.path)
            })
            .count()
    }
}

fn registry_profile(opts: &GitlabOptions, state: Arc<State_>) -> Profile {
    let creds = opts.clone();
    let check = move |c: &Credentials| -> Option<Grants> {
        let Credentials::Basic { user, password } = c else {
            return None;
        };
        if user == "gitlab-ci-token" {
            let (job, project) = creds.job_token.as_ref()?;
            if password != job {
                return None;
            }
            let path = &creds.projects.iter().find(|(id, _)| id == project)?.1;
            let all = ["pull", "push", "delete"];
            return Some(
                Grants::none()
                    .allow(path, &all)
                    .allow(&format!("{path}/*"), &all),
            );
        }
        if user == "oauth2" && creds.oauth_tokens.contains(password) {
            return Some(Grants::all());
        }
        match creds.private_tokens.iter().find(|(t, _)| t == password)?.1 {
            TokenScope::Api => Some(Grants::all()),
            TokenScope::ReadApi => Some(Grants::none().allow("*", &["pull"])),
        }
    };
    let mut extra_headers = vec![
        (
            "Gitlab-Container-Registry-Version".to_string(),
            "v4.9.0-gitlab".to_string(),
        ),
        (
            "Gitlab-Container-Registry-Database-Enabled".to_string(),
            "true".to_string(),
        ),
    ];
    if let Some(f) = &opts.features {
        extra_headers.push(("Gitlab-Container-Registry-Features".to_string(), f.clone()));
    }
    let tag_delete = opts
        .features
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .any(|f| f.trim() == "tag_delete");
    let guard = state.clone();
    let legacy = state.clone();
    Profile {
        name: "gitlab".into(),
        auth: Auth::bearer("/jwt/auth", Some("container_registry"), check),
        tag_delete: if tag_delete {
            TagDelete::Untag
        } else {
            TagDelete::DigestInvalid
        },
        digest_delete: DigestDelete::RemoveWithTags,
        referrers: false,
        extra_headers,
        hooks: Hooks {
            check_delete: Some(Arc::new(move |store, repo, reference| {
                let opts = guard.opts.lock().unwrap().clone();
                let tags: Vec<String> = match store.repo(repo) {
                    Some(r) if reference.contains(':') => r.tags_of(reference),
                    _ => vec![reference.to_string()],
                };
                match tags.iter().find(|t| protected(&opts, t)) {
                    Some(t) => Err(OciError::denied(&format!(
                        "tag {t} is protected by a container tag protection rule"
                    ))),
                    None => Ok(()),
                }
            })),
            v2_override: Some(Arc::new(move |req: &V2Request, h: &FakeHandle| {
                legacy_reference(&legacy, req, h)
            })),
            ..Hooks::default()
        },
        ..Profile::distribution()
    }
}

/// `DELETE /v2/<path>/tags/reference/<tag>` (docs/registries.md#gitlab, the third way).
fn legacy_reference(state: &State_, req: &V2Request, h: &FakeHandle) -> Option<Response> {
    let (repo, tag) = req.rest.rsplit_once("/tags/reference/")?;
    if req.method != axum::http::Method::DELETE {
        return None;
    }
    let opts = state.opts.lock().unwrap().clone();
    if !opts.legacy_reference {
        return Some((StatusCode::NOT_FOUND, "404 page not found\n").into_response());
    }
    // Not an OCI route, so the fake left authorization to us: a `delete` token as for any
    // registry DELETE.
    let need = Need::Repo {
        name: repo.to_string(),
        actions: vec!["delete"],
    };
    if let Err(resp) = h.authorize(&h.profile().auth, &req.headers, &need) {
        return Some(*resp);
    }
    if protected(&opts, tag) {
        return Some(OciError::denied(&format!("tag {tag} is protected")).into_response());
    }
    let removed = h.with_store(|s| {
        let present = s.repo(repo).is_some_and(|r| r.tags.contains_key(tag));
        if present {
            s.repo_mut(repo).tags.remove(tag);
        }
        present
    });
    Some(if removed {
        (StatusCode::ACCEPTED, "").into_response()
    } else {
        OciError::manifest_unknown(tag).into_response()
    })
}

// ---------------------------------------------------------------------------------------------
// REST

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

enum Caller {
    Private(TokenScope),
    Job(u64),
    OAuth,
}

/// Who is calling, and may they touch `project` (for a write when `write`)? Err is the answer.
#[allow(clippy::result_large_err)]
fn authorize(
    opts: &GitlabOptions,
    headers: &HeaderMap,
    project: u64,
    write: bool,
) -> Result<Caller, Response> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let caller = if let Some(t) = header("private-token") {
        opts.private_tokens
            .iter()
            .find(|(x, _)| x == t)
            .map(|(_, s)| Caller::Private(*s))
    } else if let Some(t) = header("job-token") {
        opts.job_token
            .as_ref()
            .filter(|(x, _)| x == t)
            .map(|(_, p)| Caller::Job(*p))
    } else if let Some(t) = header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
        opts.oauth_tokens
            .iter()
            .any(|x| x == t)
            .then_some(Caller::OAuth)
    } else {
        None
    };
    let Some(caller) = caller else {
        return Err(message(StatusCode::UNAUTHORIZED, "401 Unauthorized"));
    };
    match caller {
        Caller::Job(own) if own != project => Err(message(StatusCode::FORBIDDEN, "403 Forbidden")),
        Caller::Private(TokenScope::ReadApi) if write => Err((
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": "api"
            })),
        )
            .into_response()),
        c => Ok(c),
    }
}

/// The project named by `:id` (numeric, or the path as decoded once by the router).
fn find_project(opts: &GitlabOptions, id: &str) -> Option<(u64, String)> {
    opts.projects
        .iter()
        .find(|(n, p)| n.to_string() == id || p == id)
        .cloned()
}

/// The project's repositories, ids assigned in path order on first sight.
fn repositories(ctx: &Ctx, opts: &GitlabOptions, project: &(u64, String)) -> Vec<(u64, String)> {
    let paths: Vec<String> = ctx.h.with_store(|s| {
        s.repos
            .iter()
            .filter(|(_, r)| !r.manifests.is_empty() || !r.tags.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    });
    let mut ids = ctx.s.repo_ids.lock().unwrap();
    let mut out = Vec::new();
    for p in paths {
        if project_of(opts, &p).map(|x| x.0) != Some(project.0) {
            continue;
        }
        let next = 100 + ids.len() as u64;
        let id = *ids.entry(p.clone()).or_insert(next);
        out.push((id, p));
    }
    out.sort();
    out
}

fn find_repository(
    ctx: &Ctx,
    opts: &GitlabOptions,
    project: &(u64, String),
    rid: &str,
) -> Option<String> {
    repositories(ctx, opts, project)
        .into_iter()
        .find(|(id, _)| id.to_string() == rid)
        .map(|(_, p)| p)
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

/// A page URL for [`offset_page`]: this request's URL with its query kept but for `page`.
fn same_query_link<'a>(
    q: &'a HashMap<String, String>,
    uri: &'a Uri,
    headers: &'a HeaderMap,
) -> impl Fn(usize, usize) -> String + 'a {
    move |p, _per_page| {
        let mut u = url::Url::parse(&format!("http://{}{}", host(headers), uri.path())).unwrap();
        {
            let mut qp = u.query_pairs_mut();
            for (k, v) in q.iter().filter(|(k, _)| *k != "page") {
                qp.append_pair(k, v);
            }
            qp.append_pair("page", &p.to_string());
        }
        u.to_string()
    }
}

/// One page of `items` as GitLab's offset paging answers it: `page` and `per_page` (default
/// 20, at most 100) from the query, the `X-*` headers, and a `Link` header (prev, next, first,
/// last) when `link` builds the URL of a page (from the page and `per_page`).
pub fn offset_page(
    items: Vec<Value>,
    q: &HashMap<String, String>,
    link: Option<&dyn Fn(usize, usize) -> String>,
) -> Response {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(20)
        .min(100);
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    let mut set = |name: &'static str, value: String| {
        h.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("x-total", total.to_string());
    set("x-total-pages", pages.to_string());
    set("x-page", page.to_string());
    set("x-per-page", per_page.to_string());
    set(
        "x-next-page",
        if page < pages {
            (page + 1).to_string()
        } else {
            String::new()
        },
    );
    set(
        "x-prev-page",
        if page > 1 {
            (page - 1).to_string()
        } else {
            String::new()
        },
    );
    if let Some(link) = link {
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", link(page - 1, per_page)));
        }
        if page < pages {
            links.push(format!("<{}>; rel=\"next\"", link(page + 1, per_page)));
        }
        links.push(format!("<{}>; rel=\"first\"", link(1, per_page)));
        links.push(format!("<{}>; rel=\"last\"", link(pages, per_page)));
        set("link", links.join(", "));
    }
    resp
}

/// Keyset paging over names sorted ascending: items after `last`, and a `Link` to the next page
/// while more remain (no `X-*` headers).
fn keyset_page(
    items: Vec<(String, Value)>,
    q: &HashMap<String, String>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(20)
        .min(100);
    let last = q.get("last").cloned().unwrap_or_default();
    let rest: Vec<(String, Value)> = items.into_iter().filter(|(n, _)| *n > last).collect();
    let more = rest.len() > per_page;
    let page: Vec<(String, Value)> = rest.into_iter().take(per_page).collect();
    let mut resp = (
        StatusCode::OK,
        axum::Json(page.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()),
    )
        .into_response();
    if more && let Some((cursor, _)) = page.last() {
        let mut u = url::Url::parse(&format!("http://{}{}", host(headers), uri.path())).unwrap();
        u.query_pairs_mut()
            .append_pair("last", cursor)
            .append_pair("pagination", "keyset")
            .append_pair("per_page", &per_page.to_string());
        resp.headers_mut().insert(
            "link",
            HeaderValue::from_str(&format!("<{u}>; rel=\"next\"")).unwrap(),
        );
    }
    resp
}

/// `+02:00` local time of `t`, as GitLab prints `created_at` (e.g. `2019-01-06T16:49:51.272+00:00`).
pub fn offset_time(t: SystemTime) -> String {
    let shifted = t + Duration::from_secs(2 * 3600);
    let s = humantime::format_rfc3339_millis(shifted).to_string();
    format!("{}+02:00", s.trim_end_matches('Z'))
}

async fn list_repositories(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let opts = ctx.opts();
    let Some(project) = find_project(&opts, &id) else {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    };
    if let Err(r) = authorize(&opts, &headers, project.0, false) {
        return r;
    }
    let host_name = ctx.h.host();
    let items: Vec<Value> = repositories(&ctx, &opts, &project)
        .into_iter()
        .map(|(rid, path)| {
            let name = path
                .strip_prefix(project.1.as_str())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            json!({
                "id": rid,
                "name": name,
                "path": path,
                "project_id": project.0,
                "location": format!("{host_name}/{path}"),
                "created_at": offset_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
                "cleanup_policy_started_at": null,
                "status": null
            })
        })
        .collect();
    let link = same_query_link(&q, &uri, &headers);
    offset_page(
        items,
        &q,
        (opts.paging != Paging::HeadersOnly).then_some(&link),
    )
}

/// `GET /groups/:id/registry/repositories` (docs.gitlab.com/api/container_registry, "Within a
/// group"): the repositories of every project in the group and its subgroups, offset-paged. A
/// group exists here when a project path lies under it; the job token may not read a group.
async fn list_group_repositories(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let opts = ctx.opts();
    let prefix = format!("{id}/");
    let projects: Vec<(u64, String)> = opts
        .projects
        .iter()
        .filter(|(_, p)| p.starts_with(&prefix))
        .cloned()
        .collect();
    if projects.is_empty() {
        return message(StatusCode::NOT_FOUND, "404 Group Not Found");
    }
    if headers.contains_key("job-token") {
        return message(StatusCode::FORBIDDEN, "403 Forbidden");
    }
    if let Err(r) = authorize(&opts, &headers, projects[0].0, false) {
        return r;
    }
    let host_name = ctx.h.host();
    let mut items: Vec<(u64, String, u64)> = Vec::new();
    for project in &projects {
        for (rid, path) in repositories(&ctx, &opts, project) {
            items.push((rid, path, project.0));
        }
    }
    items.sort();
    let items: Vec<Value> = items
        .into_iter()
        .map(|(rid, path, pid)| {
            json!({
                "id": rid,
                "name": path.rsplit('/').next().unwrap_or_default(),
                "path": path,
                "project_id": pid,
                "location": format!("{host_name}/{path}"),
                "created_at": offset_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            })
        })
        .collect();
    let link = same_query_link(&q, &uri, &headers);
    offset_page(
        items,
        &q,
        (opts.paging != Paging::HeadersOnly).then_some(&link),
    )
}

async fn list_tags(
    State(ctx): State<Ctx>,
    Path((id, rid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let opts = ctx.opts();
    let Some(project) = find_project(&opts, &id) else {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    };
    if let Err(r) = authorize(&opts, &headers, project.0, false) {
        return r;
    }
    let Some(path) = find_repository(&ctx, &opts, &project, &rid) else {
        return message(StatusCode::NOT_FOUND, "404 Repository Not Found");
    };
    let host_name = ctx.h.host();
    let items: Vec<(String, Value)> = ctx
        .h
        .tags(&path)
        .into_iter()
        .map(|t| {
            let v = json!({
                "name": t,
                "path": format!("{path}:{t}"),
                "location": format!("{host_name}/{path}:{t}")
            });
            (t, v)
        })
        .collect();
    let keyset =
        opts.paging == Paging::Keyset || q.get("pagination").map(String::as_str) == Some("keyset");
    if keyset {
        keyset_page(items, &q, &uri, &headers)
    } else {
        let link = same_query_link(&q, &uri, &headers);
        offset_page(
            items.into_iter().map(|(_, v)| v).collect(),
            &q,
            (opts.paging != Paging::HeadersOnly).then_some(&link),
        )
    }
}

async fn tag(
    State(ctx): State<Ctx>,
    Path((id, rid, tag)): Path<(String, String, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    let opts = ctx.opts();
    let write = method == axum::http::Method::DELETE;
    let Some(project) = find_project(&opts, &id) else {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    };
    if let Err(r) = authorize(&opts, &headers, project.0, write) {
        return r;
    }
    let Some(path) = find_repository(&ctx, &opts, &project, &rid) else {
        return message(StatusCode::NOT_FOUND, "404 Repository Not Found");
    };
    let found = ctx.h.with_store(|s| {
        let r = s.repo(&path)?;
        let digest = r.tags.get(&tag)?.clone();
        let m = r.manifests.get(&digest)?;
        Some((digest, m.pushed, m.bytes.len(), m.config_digest.clone()))
    });
    let Some((digest, pushed, size, config)) = found else {
        return message(StatusCode::NOT_FOUND, "404 Tag Not Found");
    };
    if !write {
        let revision = config
            .unwrap_or_else(|| digest.clone())
            .trim_start_matches("sha256:")
            .to_string();
        return (
            StatusCode::OK,
            axum::Json(json!({
                "name": tag,
                "path": format!("{path}:{tag}"),
                "location": format!("{}/{path}:{tag}", ctx.h.host()),
                "revision": revision,
                "short_revision": &revision[..9.min(revision.len())],
                "digest": digest,
                "created_at": offset_time(pushed),
                "total_size": size
            })),
        )
            .into_response();
    }
    if !opts.rest_tag_delete {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(json!({ "error": "405 Method Not Allowed" })),
        )
            .into_response();
    }
    if protected(&opts, &tag) {
        return message(
            StatusCode::FORBIDDEN,
            "403 Forbidden - Deleting protected tags requires a higher access level",
        );
    }
    ctx.h.with_store(|s| {
        s.repo_mut(&path).tags.remove(&tag);
    });
    StatusCode::OK.into_response()
}

async fn bulk(
    State(ctx): State<Ctx>,
    Path((id, rid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let opts = ctx.opts();
    let Some(project) = find_project(&opts, &id) else {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    };
    if let Err(r) = authorize(&opts, &headers, project.0, true) {
        return r;
    }
    let Some(_) = find_repository(&ctx, &opts, &project, &rid) else {
        return message(StatusCode::NOT_FOUND, "404 Repository Not Found");
    };
    if !q.contains_key("name_regex_delete") && !q.contains_key("name_regex") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "name_regex_delete is missing" })),
        )
            .into_response();
    }
    let rid_n: u64 = rid.parse().unwrap_or_default();
    let mut bulk = ctx.s.bulk.lock().unwrap();
    if bulk
        .get(&rid_n)
        .is_some_and(|t| t.elapsed() < Duration::from_secs(3600))
    {
        return message(
            StatusCode::BAD_REQUEST,
            "This request has already been made. You can run this at most once an hour for a given container repository",
        );
    }
    bulk.insert(rid_n, Instant::now());
    // Asynchronous on GitLab: accepted, nothing visible yet.
    StatusCode::ACCEPTED.into_response()
}

fn rest_router(ctx: Ctx) -> Router {
    Router::new()
        .route(
            "/api/v4/projects/{id}/registry/repositories",
            get(list_repositories),
        )
        .route(
            "/api/v4/groups/{id}/registry/repositories",
            get(list_group_repositories),
        )
        .route(
            "/api/v4/projects/{id}/registry/repositories/{rid}/tags",
            get(list_tags).delete(bulk),
        )
        .route(
            "/api/v4/projects/{id}/registry/repositories/{rid}/tags/{tag}",
            get(tag).delete(tag),
        )
        .with_state(ctx)
}
