//! A fake of GitHub's REST packages API (docs/registries.md#github-packages, #test-fakes), for
//! ghcr.io-style registries: package versions with `metadata.container.tags`, paging with an
//! absolute `Link`, owner types, token checks, the documented refusals and both rate limits.
//!
//! The data plane (the registry itself) is another fake; it calls [`FakeGitHub::record_push`] for
//! every manifest PUT (a push creates a package version, a tag moves to the newest version that
//! carries it), and [`FakeGitHub::on_delete`] lets it drop the manifest when a version goes.
//!
//! Requests are routed on the raw path, segment by segment, each segment percent-decoded exactly
//! once: `a%2Fb` is package `a/b`, while `a/b` (unencoded) is an unknown route and `a%252Fb`
//! (double-encoded) an unknown package, both 404 as on github.com.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::bg::BackgroundServer;
use super::ports::bind_loopback;
use super::util::{rfc3339, unix_now};

/// The API version header clients must send (docs.github.com/rest/about-the-rest-api/api-versions).
pub const API_VERSION: &str = "2022-11-28";

/// Called with (repository, digest) after a version was deleted.
pub type DeleteHook = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// One package version: a manifest digest and the tags on it.
#[derive(Debug, Clone)]
pub struct GhVersion {
    pub id: u64,
    /// The manifest digest (GitHub's `name`).
    pub name: String,
    pub tags: Vec<String>,
    pub created: u64,
    pub updated: u64,
}

/// One REST request as the fake saw it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The path exactly as sent (still percent-encoded).
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub api_version: Option<String>,
    pub status: u16,
    /// Refused for a rate limit (primary, secondary or injected).
    pub rate_limited: bool,
    /// When the fake answered it.
    pub at: std::time::Instant,
}

/// A rate-limit reply to inject into the next matching request.
#[derive(Debug, Clone)]
pub struct Limit {
    /// 403 or 429 (docs.github.com "Rate limits for the REST API": secondary limits answer
    /// either, with `retry-after`).
    pub status: u16,
    pub retry_after: Option<u64>,
    /// Only requests of this method take it (None: any).
    pub method: Option<Method>,
}

/// Everything the fake knows; tests reach it through [`FakeGitHub::state`].
pub struct GhState {
    /// The one token accepted (`Authorization: Bearer …`).
    pub token: String,
    /// `x-oauth-scopes` echoed on every reply (classic PATs); None for other token types.
    pub scopes: Option<String>,
    /// Lower-cased login → `User` or `Organization`.
    pub accounts: HashMap<String, &'static str>,
    /// The token's own login (`GET /user`); None answers 403 as for a workflow's GITHUB_TOKEN.
    pub me: Option<String>,
    /// (owner, package) → versions.
    pub packages: BTreeMap<(String, String), Vec<GhVersion>>,
    pub next_id: u64,
    /// false: listing answers 403 (no read:packages).
    pub can_read: bool,
    /// false: DELETE answers 404, GitHub's answer when the token may not delete.
    pub can_delete: bool,
    /// Refuse deleting the last tagged version of a package (400).
    pub refuse_last_tagged: bool,
    /// Digests of public versions downloaded more than 5,000 times (400 on DELETE).
    pub popular: HashSet<String>,
    /// Replies injected ahead of the normal ones, first matching taken first.
    pub limits: VecDeque<Limit>,
    /// Primary limit: requests a window (`x-ratelimit-limit`), requests left, and how long a
    /// window lasts (seconds; it starts with its first request and `x-ratelimit-reset` says
    /// when it ends).
    pub limit: u64,
    pub remaining: u64,
    pub reset_after: u64,
    reset_at: Option<u64>,
    /// Secondary limits (docs.github.com "Rate limits for the REST API"): points per window
    /// (GET 1, POST/PATCH/PUT/DELETE 5; 900 a minute on github.com) and content-generating
    /// requests (POST/PATCH/PUT) per window (80 a minute, 500 an hour), each counted in fixed
    /// windows from the fake's start, so tests can scale a "minute" down. Beyond them: 403 with
    /// `retry-after`, the seconds to the window's end. `None`: not enforced.
    pub points: Option<(u64, std::time::Duration)>,
    pub content: Vec<(u64, std::time::Duration)>,
    started: std::time::Instant,
    /// Points and content requests spent, per (limit index, window index).
    spent: HashMap<(usize, u64), u64>,
    pub log: Vec<ApiRequest>,
    on_delete: Option<DeleteHook>,
    /// A version deleted by the request being answered, for the hook (run without the lock).
    deleted: Option<(String, String)>,
}

impl Default for GhState {
    fn default() -> Self {
        GhState {
            token: "ghp_faketoken0123456789".into(),
            scopes: Some("delete:packages, read:packages, write:packages".into()),
            accounts: HashMap::new(),
            me: None,
            packages: BTreeMap::new(),
            next_id: 1000,
            can_read: true,
            can_delete: true,
            refuse_last_tagged: true,
            popular: HashSet::new(),
            limits: VecDeque::new(),
            limit: 5000,
            remaining: 5000,
            reset_after: 3600,
            reset_at: None,
            points: None,
            content: Vec::new(),
            started: std::time::Instant::now(),
            spent: HashMap::new(),
            log: Vec::new(),
            on_delete: None,
            deleted: None,
        }
    }
}

impl GhState {
    /// A manifest PUT: the version of `digest` exists afterwards, and `tag` (if any) is on it
    /// and on no other version of the package.
    pub fn record_push(&mut self, repository: &str, digest: &str, tag: Option<&str>) {
        let Some((owner, package)) = repository.split_once('/') else {
            return;
        };
        let now = unix_now();
        let key = (owner.to_ascii_lowercase(), package.to_string());
        if !self.packages.contains_key(&key) {
            self.packages.insert(key.clone(), Vec::new());
        }
        let next_id = &mut self.next_id;
        let versions = self.packages.get_mut(&key).expect("package");
        if let Some(tag) = tag {
            for v in versions.iter_mut() {
                if v.name != digest && v.tags.iter().any(|t| t == tag) {
                    v.tags.retain(|t| t != tag);
                    v.updated = now;
                }
            }
        }
        match versions.iter_mut().find(|v| v.name == digest) {
            Some(v) => {
                if let Some(tag) = tag
                    && !v.tags.iter().any(|t| t == tag)
                {
                    v.tags.push(tag.to_string());
                    v.updated = now;
                }
            }
            None => {
                *next_id += 1;
                versions.push(GhVersion {
                    id: *next_id,
                    name: digest.to_string(),
                    tags: tag.map(|t| vec![t.to_string()]).unwrap_or_default(),
                    created: now,
                    updated: now,
                });
            }
        }
    }

    /// Dates the version `digest` of `owner/package` (created and updated) at `secs` (epoch), as
    /// if pushed then: the listing dates versions by these times, and a test cannot wait days.
    pub fn date(&mut self, repository: &str, digest: &str, secs: u64) {
        let (owner, package) = repository.split_once('/').expect("OWNER/PACKAGE");
        let v = self
            .packages
            .get_mut(&(owner.to_ascii_lowercase(), package.to_string()))
            .and_then(|vs| vs.iter_mut().find(|v| v.name == digest))
            .unwrap_or_else(|| panic!("no version {digest} of {repository}"));
        v.created = secs;
        v.updated = secs;
    }

    /// The versions of `owner/package`, oldest first.
    pub fn versions(&self, repository: &str) -> Vec<GhVersion> {
        let Some((owner, package)) = repository.split_once('/') else {
            return Vec::new();
        };
        self.packages
            .get(&(owner.to_ascii_lowercase(), package.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// tag → digest of a package.
    pub fn tags(&self, repository: &str) -> BTreeMap<String, String> {
        self.versions(repository)
            .into_iter()
            .flat_map(|v| {
                v.tags
                    .iter()
                    .map(|t| (t.clone(), v.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Replies refused for a rate limit (403/429 naming a rate limit).
    pub fn rate_limited(&self) -> usize {
        self.log
            .iter()
            .filter(|r| matches!(r.status, 403 | 429) && r.rate_limited)
            .count()
    }

    /// A secondary limit the request would exceed: 403 with `retry-after`, else it is counted.
    fn secondary(&mut self, method: &Method) -> Option<Response> {
        let write = !matches!(*method, Method::GET | Method::HEAD);
        let content = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        let elapsed = self.started.elapsed();
        let mut limits: Vec<(usize, u64, std::time::Duration, u64)> = Vec::new();
        if let Some((count, window)) = self.points {
            limits.push((0, count, window, if write { 5 } else { 1 }));
        }
        for (i, (count, window)) in self.content.iter().enumerate() {
            if content {
                limits.push((i + 1, *count, *window, 1));
            }
        }
        for (i, count, window, cost) in &limits {
            let index = (elapsed.as_nanos() / window.as_nanos().max(1)) as u64;
            let spent = self.spent.get(&(*i, index)).copied().unwrap_or(0);
            if spent + cost > *count {
                let end = window.mul_f64((index + 1) as f64);
                let wait = end.saturating_sub(elapsed).as_secs_f64().ceil().max(1.0) as u64;
                let mut r = message(
                    StatusCode::FORBIDDEN,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                );
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(wait));
                return Some(r);
            }
        }
        for (i, _, window, cost) in limits {
            let index = (elapsed.as_nanos() / window.as_nanos().max(1)) as u64;
            *self.spent.entry((i, index)).or_default() += cost;
        }
        None
    }

    /// Requests of `method` whose path contains `needle`.
    pub fn count(&self, method: &Method, needle: &str) -> usize {
        self.log
            .iter()
            .filter(|r| r.method == *method && r.path.contains(needle))
            .count()
    }
}

/// The fake API on a loopback port.
pub struct FakeGitHub {
    state: Arc<Mutex<GhState>>,
    server: BackgroundServer,
}

impl FakeGitHub {
    pub fn start(state: GhState) -> FakeGitHub {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server =
            BackgroundServer::spawn("fake-github", bind_loopback(), move |listener| async move {
                let _ = axum::serve(listener, app).await;
            });
        FakeGitHub { state, server }
    }

    /// `http://127.0.0.1:PORT` (for `--github-api-url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, GhState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle the registry fake's hooks can keep.
    pub fn shared(&self) -> Arc<Mutex<GhState>> {
        self.state.clone()
    }

    /// Called with (repository, digest) after a version is deleted, to drop the manifest.
    pub fn on_delete(&self, f: impl Fn(&str, &str) + Send + Sync + 'static) {
        self.state().on_delete = Some(Arc::new(f));
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// Marks a rate-limit refusal for the log (the mark is taken off before the reply goes).
fn limited(mut r: Response) -> Response {
    r.headers_mut()
        .insert("x-fake-rate-limited", HeaderValue::from_static("1"));
    r
}

fn message(status: StatusCode, text: &str) -> Response {
    // GitHub's REST error shape: {"message", "documentation_url"}.
    (
        status,
        axum::Json(json!({
            "message": text,
            "documentation_url": "https://docs.github.com/rest/packages/packages",
        })),
    )
        .into_response()
}

fn version_json(owner: &str, package: &str, v: &GhVersion) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "url": format!("https://api.github.com/users/{owner}/packages/container/{package}/versions/{}", v.id),
        "package_html_url": format!("https://github.com/users/{owner}/packages/container/package/{package}"),
        "created_at": rfc3339(v.created),
        "updated_at": rfc3339(v.updated),
        "html_url": format!("https://github.com/users/{owner}/packages/container/{package}/{}", v.id),
        "metadata": {"package_type": "container", "container": {"tags": v.tags}},
    })
}

async fn handle(State(state): State<Arc<Mutex<GhState>>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers = req.headers().clone();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let mut resp = route(&mut st, &method, &path, &query, &headers, &host);
    // Rate-limit headers on every reply (docs.github.com "Rate limits for the REST API").
    let now = unix_now();
    let reset = st.reset_at.unwrap_or(now + st.reset_after);
    let limit = st.limit;
    let h = resp.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put("x-ratelimit-limit", limit.to_string());
    put("x-ratelimit-remaining", st.remaining.to_string());
    put("x-ratelimit-reset", reset.to_string());
    put(
        "x-ratelimit-used",
        (limit - st.remaining.min(limit)).to_string(),
    );
    put("x-ratelimit-resource", "core".into());
    if let Some(s) = &st.scopes {
        put("x-oauth-scopes", s.clone());
    }
    let status = resp.status().as_u16();
    let rate_limited = resp.headers().contains_key("x-fake-rate-limited");
    resp.headers_mut().remove("x-fake-rate-limited");
    let text = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    st.log.push(ApiRequest {
        method,
        path,
        query,
        authorization: text("authorization"),
        accept: text("accept"),
        api_version: text("x-github-api-version"),
        status,
        rate_limited,
        at: std::time::Instant::now(),
    });
    // The registry side drops the manifest; its lock is taken without ours held.
    let hook = st.on_delete.clone();
    let deleted = st.deleted.take();
    drop(st);
    if let (Some(f), Some((repository, digest))) = (hook, deleted) {
        f(&repository, &digest);
    }
    resp
}

fn route(
    st: &mut GhState,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    host: &str,
) -> Response {
    // Authentication first: a wrong or missing token is 401 "Bad credentials".
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {}", st.token)) {
        return message(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if let Some(v) = headers.get("x-github-api-version")
        && v != API_VERSION
    {
        return message(StatusCode::BAD_REQUEST, "Unsupported API version");
    }
    // Injected limits (secondary: 403/429 with retry-after).
    if let Some(i) = st
        .limits
        .iter()
        .position(|l| l.method.as_ref().is_none_or(|m| m == method))
    {
        let l = st.limits.remove(i).expect("limit");
        let mut r = message(
            StatusCode::from_u16(l.status).expect("status"),
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        );
        if let Some(s) = l.retry_after {
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&s.to_string()).unwrap(),
            );
        }
        return limited(r);
    }
    // Primary limit: a window starts with its first request and lasts `reset_after`; once
    // spent, 403 until the reset.
    let now = unix_now();
    if st.reset_at.is_some_and(|r| now >= r) {
        st.reset_at = None;
        st.remaining = st.limit;
    }
    if st.reset_at.is_none() {
        st.reset_at = Some(now + st.reset_after);
    }
    if st.remaining == 0 {
        return limited(message(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user.",
        ));
    }
    if let Some(r) = st.secondary(method) {
        return limited(r);
    }
    st.remaining -= 1;

    let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let Some(segs) = raw
        .iter()
        .map(|s| percent_decode(s))
        .collect::<Option<Vec<String>>>()
    else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method, segs.as_slice()) {
        (&Method::GET, ["user"]) => match &st.me {
            Some(me) => axum::Json(json!({"login": me, "type": "User"})).into_response(),
            None => message(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
            ),
        },
        (&Method::GET, ["users", owner]) => match st.accounts.get(&owner.to_ascii_lowercase()) {
            Some(kind) => axum::Json(json!({"login": owner, "type": kind})).into_response(),
            None => message(StatusCode::NOT_FOUND, "Not Found"),
        },
        // docs.github.com/rest/packages/packages#list-packages-for-an-organization (and for a
        // user, and the token's own account).
        (&Method::GET, ["user", "packages"]) => match st.me.clone() {
            Some(me) => package_list(st, &me, query, host, path),
            None => message(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
            ),
        },
        (&Method::GET, [kind @ ("orgs" | "users"), owner, "packages"]) => {
            let want = if *kind == "orgs" {
                "Organization"
            } else {
                "User"
            };
            if st.accounts.get(&owner.to_ascii_lowercase()) != Some(&want) {
                return message(StatusCode::NOT_FOUND, "Not Found");
            }
            package_list(st, owner, query, host, path)
        }
        (_, ["user", "packages", "container", package, rest @ ..]) => {
            let Some(me) = st.me.clone() else {
                return message(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                );
            };
            packages(st, method, &me, package, rest, query, host, path)
        }
        (
            _,
            [
                kind @ ("orgs" | "users"),
                owner,
                "packages",
                "container",
                package,
                rest @ ..,
            ],
        ) => {
            let want = if *kind == "orgs" {
                "Organization"
            } else {
                "User"
            };
            if st.accounts.get(&owner.to_ascii_lowercase()) != Some(&want) {
                return message(StatusCode::NOT_FOUND, "Not Found");
            }
            packages(st, method, owner, package, rest, query, host, path)
        }
        _ => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// The `Link` header of page `page` of `last` (absolute, as GitHub sends it), or None for one page.
fn page_links(
    host: &str,
    path: &str,
    extra: &str,
    per_page: usize,
    page: usize,
    last: usize,
) -> Option<HeaderValue> {
    let link = |p: usize, rel: &str| {
        format!("<http://{host}{path}?{extra}per_page={per_page}&page={p}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    (!links.is_empty()).then(|| HeaderValue::from_str(&links.join(", ")).unwrap())
}

/// `GET /{scope}/packages?package_type=container`: the owner's container packages by name,
/// paged like every GitHub list (`per_page` ≤ 100, default 30; absolute `Link`). `package_type`
/// is required; a token without read:packages gets 403.
fn package_list(st: &mut GhState, owner: &str, query: &str, host: &str, path: &str) -> Response {
    match query_param(query, "package_type").as_deref() {
        Some("container") => {}
        Some(_) => return axum::Json(json!([])).into_response(),
        None => {
            return message(
                StatusCode::BAD_REQUEST,
                "Invalid request.\n\n\"package_type\" wasn't supplied.",
            );
        }
    }
    if !st.can_read {
        return message(
            StatusCode::FORBIDDEN,
            "You need at least read:packages scope to list packages.",
        );
    }
    let per_page = query_param(query, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query_param(query, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let names: Vec<&String> = st
        .packages
        .keys()
        .filter(|(o, _)| o.eq_ignore_ascii_case(owner))
        .map(|(_, p)| p)
        .collect();
    let last = names.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = names
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|name| {
            json!({
                "name": name,
                "package_type": "container",
                "owner": {"login": owner},
                "visibility": "private",
                "url": format!("https://api.github.com/users/{owner}/packages/container/{}", name.replace('/', "%2F")),
            })
        })
        .collect();
    let mut resp = axum::Json(Value::Array(items)).into_response();
    if let Some(l) = page_links(host, path, "package_type=container&", per_page, page, last) {
        resp.headers_mut().insert("link", l);
    }
    resp
}

#[allow(clippy::too_many_arguments)]
fn packages(
    st: &mut GhState,
    method: &Method,
    owner: &str,
    package: &str,
    rest: &[&str],
    query: &str,
    host: &str,
    path: &str,
) -> Response {
    let key = (owner.to_ascii_lowercase(), package.to_string());
    // "Package not found" also when the token may not see it (docs/registries.md#github-packages).
    if !st.packages.contains_key(&key) {
        return message(StatusCode::NOT_FOUND, "Package not found.");
    }
    if !st.can_read {
        return message(
            StatusCode::FORBIDDEN,
            "You need at least read:packages scope to list packages.",
        );
    }
    match (method, rest) {
        (&Method::GET, ["versions"]) => {
            // per_page ≤ 100, default 30; page from 1; newest first; absolute Link.
            let per_page = query_param(query, "per_page")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(30)
                .clamp(1, 100);
            let page = query_param(query, "page")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            let mut all = st.packages[&key].clone();
            all.sort_by_key(|v| std::cmp::Reverse(v.id));
            let last = all.len().div_ceil(per_page).max(1);
            let items: Vec<Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|v| version_json(owner, package, v))
                .collect();
            let mut resp = axum::Json(Value::Array(items)).into_response();
            let link = |p: usize, rel: &str| {
                format!("<http://{host}{path}?per_page={per_page}&page={p}>; rel=\"{rel}\"")
            };
            let mut links = Vec::new();
            if page < last {
                links.push(link(page + 1, "next"));
                links.push(link(last, "last"));
            }
            if page > 1 {
                links.push(link(1, "first"));
                links.push(link(page - 1, "prev"));
            }
            if !links.is_empty() {
                resp.headers_mut()
                    .insert("link", HeaderValue::from_str(&links.join(", ")).unwrap());
            }
            resp
        }
        (&Method::GET, ["versions", id]) => {
            match st.packages[&key].iter().find(|v| v.id.to_string() == *id) {
                Some(v) => axum::Json(version_json(owner, package, v)).into_response(),
                None => message(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        (&Method::DELETE, ["versions", id]) => {
            let versions = &st.packages[&key];
            let Some(pos) = versions.iter().position(|v| v.id.to_string() == *id) else {
                return message(StatusCode::NOT_FOUND, "Not Found");
            };
            if !st.can_delete {
                // GitHub answers 404 when the token may not delete
                // (docs/registries.md#github-packages).
                return message(StatusCode::NOT_FOUND, "Package not found.");
            }
            let v = versions[pos].clone();
            // docs.github.com "Deleting and restoring a package": public versions downloaded
            // more than 5,000 times cannot be deleted (dataaxiom/ghcr-cleanup-action#5).
            if st.popular.contains(&v.name) {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance.",
                );
            }
            // The last tagged version cannot go (posit-dev/positron#15764, kairos-io/kairos#4724).
            let tagged = versions.iter().filter(|x| !x.tags.is_empty()).count();
            if st.refuse_last_tagged && !v.tags.is_empty() && tagged == 1 {
                return message(
                    StatusCode::BAD_REQUEST,
                    "You cannot delete the last tagged version of a package. You must delete the package instead.",
                );
            }
            st.packages.get_mut(&key).expect("package").remove(pos);
            st.deleted = Some((format!("{owner}/{package}"), v.name));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// ghcr.io as a whole: the REST API fake plus the registry on the in-memory OCI fake, wired so
/// that every manifest PUT is a package version and every deleted version drops its manifest.
pub struct Ghcr {
    pub api: FakeGitHub,
    pub registry: super::fake_oci::FakeOci,
}

impl Ghcr {
    pub fn start(state: GhState) -> Ghcr {
        use super::fake_oci::{
            Auth, Credentials, DigestDelete, FakeOci, Grants, Profile, TagDelete, TagPaging,
        };
        let token = state.token.clone();
        let api = FakeGitHub::start(state);
        let shared = api.shared();
        let mut profile = Profile {
            name: "ghcr".into(),
            // docs/registries.md#github-packages, registry side: manifest DELETE → 405, no
            // referrers,
            // tags/list 100 per page, oldest first.
            tag_delete: TagDelete::Unsupported,
            digest_delete: DigestDelete::Unsupported,
            referrers: false,
            tag_paging: TagPaging::PushOrder {
                default_n: Some(100),
            },
            ..Profile::distribution()
        }
        // Token at /token with service ghcr.io; Basic with any user name and the token as the
        // password (a PAT or GITHUB_TOKEN), docs/registries.md#github-packages.
        .with_auth(Auth::bearer("/token", Some("ghcr.io"), move |c| match c {
            Credentials::Basic { password, .. } if *password == token => Some(Grants::all()),
            _ => None,
        }));
        profile.hooks.on_manifest_put = Some(Arc::new(move |_store, repo, digest, tag| {
            shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record_push(repo, digest, tag);
        }));
        let registry = FakeOci::start(profile);
        let handle = registry.handle();
        api.on_delete(move |repo, digest| {
            handle.with_store(|s| {
                s.remove_manifest(repo, digest);
            });
        });
        Ghcr { api, registry }
    }
}
