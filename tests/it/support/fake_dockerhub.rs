//! A fake Docker Hub: the Hub API (logins, tag listing, tag delete, rate limits) and the
//! registry, one server and one store. The registry is the in-memory OCI fake (`fake_oci`) with
//! Hub's rules; the Hub API routes work on the same store, so a Hub tag delete removes the tag
//! the registry serves. Every behaviour follows docs/registries.md#docker-hub and
//! docs/registries.md#test-fakes; each is marked where it is implemented.
//!
//! The API is mounted under `/hub`, so `--docker-hub-api-url` is exercised "exactly as given",
//! path included.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use serde_json::{Value, json};

use super::fake_oci::{
    Auth, Credentials, DigestDelete, FakeHandle, FakeOci, Grants, Hooks, Profile, Refusal,
    TagDelete,
};

/// One Hub account.
#[derive(Clone, Debug)]
pub struct HubUser {
    pub name: String,
    pub password: String,
    /// Personal access tokens of the account.
    pub tokens: Vec<String>,
    /// Two-factor authentication: the password alone cannot log in through `/v2/users/login`.
    pub two_factor: bool,
}

/// How a JWT was obtained (PAT-forbidden mode refuses deletes for tokens from PATs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKind {
    Password,
    AccessToken,
}

/// One request the Hub API saw.
#[derive(Clone, Debug)]
pub struct HubRequest {
    pub method: Method,
    /// Path and query, as sent.
    pub path: String,
    /// `Bearer` or `JWT` (or None).
    pub scheme: Option<String>,
    pub status: u16,
    pub at: SystemTime,
    /// The `X-Retry-After` of a 429 (unix seconds).
    pub retry_after: Option<u64>,
    /// `X-RateLimit-Remaining` and `X-RateLimit-Reset` sent with the answer.
    pub remaining: u64,
    pub reset: u64,
}

#[derive(Default)]
pub struct HubConfig {
    /// `/v2/auth/token` answers 404 (a Hub-like API without the current login endpoint).
    pub no_auth_token_endpoint: bool,
    /// Deletes with a JWT from a personal access token → 403 (hub-feedback#2006).
    pub pat_forbidden: bool,
    /// JWT lifetime in seconds (docs/registries.md#docker-hub: about 10 minutes).
    pub jwt_ttl: u64,
    /// Hub API requests allowed per window before 429 (`X-RateLimit-Limit`).
    pub rate_limit: u64,
    /// The rate window in seconds (`X-RateLimit-Reset` is its end).
    pub rate_window: u64,
    /// Tag objects without `media_type` (docs/registries.md#docker-hub: only live replies have it
    /// [I]).
    pub listing_without_media_type: bool,
    /// Tag objects without `digest` (likewise).
    pub listing_without_digest: bool,
}

struct Token {
    user: String,
    kind: LoginKind,
    exp: u64,
}

/// Hub-side records: push times per (repository, tag).
#[derive(Clone, Copy, Debug)]
pub struct TagTimes {
    pub pushed: SystemTime,
}

pub struct HubState {
    prefix: String,
    handle: OnceLock<FakeHandle>,
    users: Mutex<Vec<HubUser>>,
    config: Mutex<HubConfig>,
    tokens: Mutex<HashMap<String, Token>>,
    times: Mutex<HashMap<(String, String), TagTimes>>,
    log: Mutex<Vec<HubRequest>>,
    /// Requests answered in the current rate window, and when it resets (unix seconds).
    used: Mutex<(u64, u64)>,
    /// While set and in the future, every Hub API request gets 429 with `X-Retry-After`.
    throttled_until: Mutex<Option<u64>>,
    /// Arm a throttle of this many seconds at the next request matching (method, path suffix).
    throttle_next: Mutex<Option<(Method, String, u64)>>,
    counter: Mutex<u64>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn rfc3339(t: SystemTime) -> String {
    // Hub sends RFC 3339 with microseconds (docs/registries.md#docker-hub).
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let base = super::util::rfc3339(secs);
    format!("{}.{:06}Z", base.trim_end_matches('Z'), d.subsec_micros())
}

impl HubState {
    fn new(prefix: &str) -> Arc<HubState> {
        Arc::new(HubState {
            prefix: prefix.trim_end_matches('/').to_string(),
            handle: OnceLock::new(),
            users: Mutex::new(Vec::new()),
            config: Mutex::new(HubConfig {
                jwt_ttl: 600,
                rate_limit: 10_000,
                rate_window: 60,
                ..Default::default()
            }),
            tokens: Mutex::new(HashMap::new()),
            times: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            used: Mutex::new((0, 0)),
            throttled_until: Mutex::new(None),
            throttle_next: Mutex::new(None),
            counter: Mutex::new(0),
        })
    }

    fn handle(&self) -> &FakeHandle {
        self.handle.get().expect("started")
    }

    pub fn add_user(&self, user: HubUser) {
        self.users.lock().unwrap().push(user);
    }

    pub fn configure(&self, f: impl FnOnce(&mut HubConfig)) {
        f(&mut self.config.lock().unwrap());
    }

    /// Records when a tag was pushed (called from the registry's manifest-put hook, or by a
    /// test to age a tag).
    pub fn set_pushed(&self, repo: &str, tag: &str, pushed: SystemTime) {
        self.times
            .lock()
            .unwrap()
            .insert((repo.to_string(), tag.to_string()), TagTimes { pushed });
    }

    /// The next Hub API request whose path ends with `suffix` (and has `method`) gets 429 with
    /// `X-Retry-After` `secs` seconds ahead, and so does every request until then.
    pub fn throttle_next(&self, method: Method, suffix: &str, secs: u64) {
        *self.throttle_next.lock().unwrap() = Some((method, suffix.to_string(), secs));
    }

    pub fn requests(&self) -> Vec<HubRequest> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().unwrap().clear();
    }

    /// Requests with `method` whose path (without the query) ends with `suffix`.
    pub fn count(&self, method: &Method, suffix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == *method && r.path.split('?').next().unwrap().ends_with(suffix))
            .count()
    }

    fn issue(&self, user: &str, kind: LoginKind) -> String {
        let ttl = self.config.lock().unwrap().jwt_ttl;
        let exp = now_unix() + ttl;
        let mut n = self.counter.lock().unwrap();
        *n += 1;
        let enc =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!(
            "{}.{}.fake-signature-{}",
            enc(&json!({"alg": "RS256", "typ": "JWT"})),
            enc(&json!({"sub": user, "exp": exp, "n": *n})),
            *n
        );
        self.tokens.lock().unwrap().insert(
            token.clone(),
            Token {
                user: user.to_string(),
                kind,
                exp,
            },
        );
        token
    }

    /// The caller's login, from `Authorization: Bearer <jwt>` or `JWT <jwt>`
    /// (docs/registries.md#docker-hub: both schemes are accepted).
    fn caller(&self, headers: &HeaderMap) -> Option<(String, LoginKind)> {
        let value = headers.get("authorization")?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") && scheme != "JWT" {
            return None;
        }
        let tokens = self.tokens.lock().unwrap();
        let t = tokens.get(token.trim())?;
        (t.exp > now_unix()).then(|| (t.user.clone(), t.kind))
    }
}

type Shared = Arc<HubState>;

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"detail": text}))).into_response()
}

/// The Hub API routes, under the state's prefix.
pub fn router(state: Shared) -> Router {
    let p = state.prefix.clone();
    Router::new()
        .route(&format!("{p}/v2/auth/token"), post(auth_token))
        .route(&format!("{p}/v2/users/login"), post(users_login))
        .route(
            &format!("{p}/v2/namespaces/{{ns}}/repositories"),
            get(list_repositories),
        )
        .route(
            &format!("{p}/v2/namespaces/{{ns}}/repositories/{{repo}}/tags"),
            get(list_tags),
        )
        // docs/registries.md#docker-hub: the delete path ends with a slash; without it there is no
        // route.
        .route(
            &format!("{p}/v2/repositories/{{ns}}/{{repo}}/tags/{{tag}}/"),
            delete(delete_tag),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limits,
        ))
        .with_state(state)
}

/// Rate limits and the request log around every Hub API request (docs/registries.md#docker-hub:
/// `X-RateLimit-Limit/-Remaining/-Reset` as unix time; a 429 carries `X-Retry-After`, unix time).
async fn rate_limits(
    State(s): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let scheme = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(' ').next())
        .map(str::to_string);
    let now = now_unix();
    {
        let mut armed = s.throttle_next.lock().unwrap();
        if let Some((m, suffix, secs)) = armed.as_ref()
            && *m == method
            && path.split('?').next().unwrap().ends_with(suffix.as_str())
        {
            *s.throttled_until.lock().unwrap() = Some(now + secs);
            *armed = None;
        }
    }
    let (limit, window) = {
        let c = s.config.lock().unwrap();
        (c.rate_limit, c.rate_window)
    };
    let (remaining, reset) = {
        let mut used = s.used.lock().unwrap();
        if used.1 <= now {
            *used = (0, now + window);
        }
        used.0 += 1;
        (limit.saturating_sub(used.0), used.1)
    };
    let throttled = s.throttled_until.lock().unwrap().filter(|t| *t > now);
    let over = remaining == 0 && limit > 0 && s.used.lock().unwrap().0 > limit;
    let retry_after = throttled.or(over.then_some(reset));
    let mut resp = if let Some(until) = retry_after {
        let mut r = detail(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        r.headers_mut()
            .insert("x-retry-after", HeaderValue::from(until));
        r
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    s.log.lock().unwrap().push(HubRequest {
        method,
        path,
        scheme,
        status: resp.status().as_u16(),
        at: SystemTime::now(),
        retry_after,
        remaining,
        reset,
    });
    resp
}

/// `POST /v2/auth/token` `{identifier, secret}` → `{access_token}`; passwords and access tokens
/// alike; 401 otherwise (docs/registries.md#docker-hub, login).
async fn auth_token(State(s): State<Shared>, body: Bytes) -> Response {
    if s.config.lock().unwrap().no_auth_token_endpoint {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let (Some(id), Some(secret)) = (v["identifier"].as_str(), v["secret"].as_str()) else {
        return detail(
            StatusCode::BAD_REQUEST,
            "identifier and secret are required",
        );
    };
    let users = s.users.lock().unwrap().clone();
    let Some(u) = users.iter().find(|u| u.name == id) else {
        return detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials",
        );
    };
    let kind = if u.tokens.iter().any(|t| t == secret) {
        LoginKind::AccessToken
    } else if u.password == secret && u.two_factor {
        // A 2FA account needs an access token here (docs/registries.md#docker-hub).
        return detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials",
        );
    } else if u.password == secret {
        LoginKind::Password
    } else {
        return detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials",
        );
    };
    let token = s.issue(id, kind);
    axum::Json(json!({"access_token": token})).into_response()
}

/// Deprecated `POST /v2/users/login` `{username, password}` → `{token}`; with 2FA, 401 with
/// `login_2fa_token` (docs/registries.md#docker-hub, the older login).
async fn users_login(State(s): State<Shared>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let (Some(name), Some(password)) = (v["username"].as_str(), v["password"].as_str()) else {
        return detail(
            StatusCode::BAD_REQUEST,
            "username and password are required",
        );
    };
    let users = s.users.lock().unwrap().clone();
    let Some(u) = users.iter().find(|u| u.name == name) else {
        return detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials",
        );
    };
    if u.password == password && u.two_factor {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "detail": "Require secondary authentication on MFA enabled account",
                "login_2fa_token": "fake-2fa-token"
            })),
        )
            .into_response();
    }
    let kind = if u.password == password {
        LoginKind::Password
    } else if u.tokens.iter().any(|t| t == password) {
        LoginKind::AccessToken
    } else {
        return detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials",
        );
    };
    let token = s.issue(name, kind);
    axum::Json(json!({"token": token})).into_response()
}

/// `GET /v2/namespaces/<ns>/repositories/<repo>/tags`: `page` from 1, `page_size` default 10 and
/// at most 100, `{count, next (absolute URL or null), previous, results}`, newest first
/// (docs/registries.md#docker-hub, tag listing).
/// `GET /v2/namespaces/<ns>/repositories` (docs.docker.com/reference/api/hub/latest, "List
/// repositories"): `page` from 1, `page_size` ≤ 100 (default 10), `{count, next, previous,
/// results[]}` with absolute `next`; an unknown namespace is 404.
async fn list_repositories(
    State(s): State<Shared>,
    Path(ns): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if s.caller(&headers).is_none() {
        return detail(StatusCode::UNAUTHORIZED, "authentication required");
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size: usize = q
        .get("page_size")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10);
    if page == 0 || size == 0 || size > 100 {
        return detail(
            StatusCode::BAD_REQUEST,
            "page_size must be between 1 and 100",
        );
    }
    let known = s.users.lock().unwrap().iter().any(|u| u.name == ns);
    let prefix = format!("{ns}/");
    let names: Vec<String> = s.handle().with_store(|st| {
        st.repos
            .keys()
            .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
            .collect()
    });
    if !known && names.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "object not found", "errinfo": {}})),
        )
            .into_response();
    }
    let count = names.len();
    let results: Vec<Value> = names
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|n| json!({"name": n, "namespace": ns, "repository_type": "image", "status": 1}))
        .collect();
    let base = s.handle().url();
    let link = |p: usize| format!("{base}{}?page={p}&page_size={size}", uri.path());
    let next = (page * size < count).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    axum::Json(json!({"count": count, "next": next, "previous": previous, "results": results}))
        .into_response()
}

async fn list_tags(
    State(s): State<Shared>,
    Path((ns, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if s.caller(&headers).is_none() {
        return detail(StatusCode::UNAUTHORIZED, "authentication required");
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size: usize = q
        .get("page_size")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10);
    if page == 0 || size == 0 || size > 100 {
        return detail(
            StatusCode::BAD_REQUEST,
            "page_size must be between 1 and 100",
        );
    }
    let name = format!("{ns}/{repo}");
    let tags = s.handle().with_store(|st| {
        st.repo(&name).map(|r| {
            r.tags
                .iter()
                .map(|(t, d)| {
                    let m = r.manifests.get(d);
                    let media = m.map(|m| m.media_type.clone()).unwrap_or_default();
                    let size = m.map(|m| m.bytes.len() as u64).unwrap_or(0);
                    (t.clone(), (d.clone(), media, size))
                })
                .collect::<BTreeMap<_, _>>()
        })
    });
    let Some(tags) = tags else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "object not found", "errinfo": {}})),
        )
            .into_response();
    };
    let times = s.times.lock().unwrap().clone();
    let mut rows: Vec<(SystemTime, String, (String, String, u64))> = tags
        .into_iter()
        .map(|(t, v)| {
            let pushed = times
                .get(&(name.clone(), t.clone()))
                .map(|x| x.pushed)
                .unwrap_or(UNIX_EPOCH);
            (pushed, t, v)
        })
        .collect();
    // Newest first, as Hub orders by last_updated.
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let count = rows.len();
    let (no_media, no_digest) = {
        let c = s.config.lock().unwrap();
        (c.listing_without_media_type, c.listing_without_digest)
    };
    let results: Vec<Value> = rows
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|(pushed, tag, (digest, media_type, size))| {
            let when = rfc3339(*pushed);
            let mut v = json!({
                "name": tag,
                "digest": digest,
                "media_type": media_type,
                "full_size": size,
                "last_updated": when,
                "tag_last_pushed": when,
                "tag_last_pulled": null,
                "status": "active",
                "tag_status": "active",
                "images": [{"architecture": "amd64", "os": "linux", "digest": digest,
                            "size": size, "last_pushed": when, "last_pulled": null}],
            });
            let o = v.as_object_mut().unwrap();
            if no_media {
                o.remove("media_type");
            }
            if no_digest {
                o.remove("digest");
                o.remove("images");
            }
            v
        })
        .collect();
    // Absolute, as Hub sends it (docs/registries.md#docker-hub).
    let base = s.handle().url();
    let link = |p: usize| format!("{base}{}?page={p}&page_size={size}", uri.path());
    let next = (page * size < count).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    axum::Json(json!({"count": count, "next": next, "previous": previous, "results": results}))
        .into_response()
}

/// `DELETE /v2/repositories/<ns>/<repo>/tags/<tag>/` → 204, unknown → 404; in PAT-forbidden
/// mode a JWT from an access token gets 403 "access to the resource is forbidden with personal
/// access token" (https://github.com/docker/hub-feedback/issues/2006).
async fn delete_tag(
    State(s): State<Shared>,
    Path((ns, repo, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some((user, kind)) = s.caller(&headers) else {
        return detail(StatusCode::UNAUTHORIZED, "authentication required");
    };
    if kind == LoginKind::AccessToken && s.config.lock().unwrap().pat_forbidden {
        return detail(
            StatusCode::FORBIDDEN,
            "access to the resource is forbidden with personal access token",
        );
    }
    if user != ns {
        return detail(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action.",
        );
    }
    let name = format!("{ns}/{repo}");
    let removed = s.handle().with_store(|st| {
        st.repos
            .get_mut(&name)
            .is_some_and(|r| r.tags.remove(&tag).is_some())
    });
    if removed {
        s.times.lock().unwrap().remove(&(name, tag));
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "tag not found", "errinfo": {}})),
        )
            .into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// The registry side, and the whole fake

/// Where the Hub API lives on the fake's server.
pub const API_PREFIX: &str = "/hub";

/// The registry's pull quota: `ratelimit-limit`, and what is left.
pub const PULL_LIMIT: u64 = 100;

/// Docker Hub, faked: the registry (fake_oci with Hub's rules) and the Hub API on one server.
pub struct FakeHub {
    pub oci: FakeOci,
    pub hub: Arc<HubState>,
    /// Manifest GETs counted against the pull quota.
    pulls: Arc<Mutex<u64>>,
}

impl std::ops::Deref for FakeHub {
    type Target = FakeOci;
    fn deref(&self) -> &FakeOci {
        &self.oci
    }
}

impl FakeHub {
    /// Starts the fake with `users` (their passwords and access tokens work for both the
    /// registry and the Hub API; each may push, pull and delete in its own namespace).
    pub fn start(users: Vec<HubUser>) -> FakeHub {
        let hub = HubState::new(API_PREFIX);
        for u in users {
            hub.add_user(u);
        }
        let pulls = Arc::new(Mutex::new(0u64));
        let check_users = hub.clone();
        // docs/registries.md#docker-hub: realm auth.docker.io/token, service registry.docker.io;
        // tokens
        // from the password or an access token.
        let auth = Auth::bearer("/token", Some("registry.docker.io"), move |c| match c {
            Credentials::Anonymous => None,
            Credentials::Basic { user, password } => {
                let users = check_users.users.lock().unwrap();
                let u = users.iter().find(|u| &u.name == user)?;
                (&u.password == password || u.tokens.iter().any(|t| t == password)).then(|| {
                    Grants::none().allow(&format!("{user}/*"), &["pull", "push", "delete"])
                })
            }
        });
        let times = hub.clone();
        let counted = pulls.clone();
        let hooks = Hooks {
            // Hub keeps a push time per tag (`tag_last_pushed`).
            on_manifest_put: Some(Arc::new(move |_store, repo, _digest, tag| {
                if let Some(tag) = tag {
                    times.set_pushed(repo, tag, SystemTime::now());
                }
            })),
            // docs/registries.md#docker-hub: `ratelimit-limit`/`ratelimit-remaining` on manifest
            // responses;
            // only a GET counts against the quota, a HEAD does not.
            on_response: Some(Arc::new(move |method, path, status, headers| {
                if !path.contains("/manifests/") || !(200..300).contains(&status) {
                    return;
                }
                let mut used = counted.lock().unwrap();
                if method == Method::GET {
                    *used += 1;
                }
                let left = PULL_LIMIT.saturating_sub(*used);
                headers.insert(
                    "ratelimit-limit",
                    HeaderValue::from_str(&format!("{PULL_LIMIT};w=21600")).unwrap(),
                );
                headers.insert(
                    "ratelimit-remaining",
                    HeaderValue::from_str(&format!("{left};w=21600")).unwrap(),
                );
                headers.insert(
                    "docker-ratelimit-source",
                    HeaderValue::from_static("127.0.0.1"),
                );
            })),
            ..Hooks::default()
        };
        let profile = Profile {
            name: "docker-hub".into(),
            // docs/registries.md#docker-hub: the registry does not delete tags.
            tag_delete: TagDelete::Unsupported,
            // docs/registries.md#docker-hub: digest DELETE only for untagged manifests, 403
            // otherwise.
            digest_delete: DigestDelete::RefuseWhileTagged(Refusal::new(
                403,
                "DENIED",
                "requested access to the resource is denied",
            )),
            // docs/registries.md#docker-hub: referrers on Hub are unclear; fallback tags are used.
            referrers: false,
            hooks,
            ..Profile::distribution()
        }
        .with_auth(auth);
        let routes = hub.clone();
        let oci = FakeOci::start_with(profile, move |handle| {
            let _ = routes.handle.set(handle);
            router(routes.clone())
        });
        FakeHub { oci, hub, pulls }
    }

    /// `--docker-hub-api-url` for this fake.
    pub fn api_url(&self) -> String {
        format!("{}{API_PREFIX}", self.oci.url())
    }

    /// Manifest GETs the registry counted against the pull quota so far.
    pub fn pulls(&self) -> u64 {
        *self.pulls.lock().unwrap()
    }

    /// Sets how much of the pull quota is spent.
    pub fn set_pulls(&self, used: u64) {
        *self.pulls.lock().unwrap() = used;
    }
}
