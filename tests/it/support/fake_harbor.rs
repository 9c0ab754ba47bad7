//! A Harbor v2.x fake (docs/registries.md#harbor, #test-fakes): the in-memory OCI registry with
//! Harbor's registry behaviour, plus the Harbor REST API (`/api/v2.0`) on the same host, over
//! the same store.
//!
//! Registry side: challenge `Bearer realm="<url>/service/token",service="harbor-registry"`, Basic
//! accepted directly too; tag DELETE → 405; digest DELETE → 202; referrers implemented.
//! API side: Basic only (users and `robot$…` accounts), projects that must exist, the repository
//! segment decoded exactly twice (taken from the raw path, so the router cannot decode it for
//! us), artifact lists with `with_tag`, `q=tags=…`, `page`/`page_size` (default 10, ≤ 100),
//! `X-Total-Count` and `Link`; tag and artifact DELETE → 200; immutable tags → 412.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::fake_oci::{
    Auth, BearerAuth, Credentials, FakeHandle, FakeOci, Grants, OciError, Profile, Store, TagDelete,
};

/// A project role (Harbor's project member roles; robots get the same through permissions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Pull and push, no delete.
    Developer,
    /// Pull, push, delete artifacts and tags.
    Maintainer,
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub password: String,
    pub role: Role,
}

impl User {
    pub fn new(name: &str, password: &str, role: Role) -> User {
        User {
            name: name.into(),
            password: password.into(),
            role,
        }
    }
}

/// Harbor's records kept beside the OCI store (Store::ext).
#[derive(Default)]
pub struct HarborState {
    pub projects: BTreeSet<String>,
    /// (repository, tag) → when the tag was last pushed.
    pub tag_pushed: BTreeMap<(String, String), SystemTime>,
    /// Tags an immutability rule protects: (repository, tag).
    pub immutable: BTreeSet<(String, String)>,
    /// (repository, digest) → the artifact's last pull; Harbor answers the zero time for an
    /// artifact never pulled.
    pub pulled: BTreeMap<(String, String), SystemTime>,
}

pub struct HarborFake {
    pub fake: FakeOci,
}

impl std::ops::Deref for HarborFake {
    type Target = FakeOci;
    fn deref(&self) -> &FakeOci {
        &self.fake
    }
}

fn grants_for(users: &[User], projects: &[String], c: &Credentials) -> Option<Grants> {
    let Credentials::Basic { user, password } = c else {
        // Anonymous: no public projects in this fake.
        return Some(Grants::none());
    };
    let u = users
        .iter()
        .find(|u| &u.name == user && &u.password == password)?;
    let actions: &[&str] = match u.role {
        Role::Developer => &["pull", "push"],
        Role::Maintainer => &["pull", "push", "delete"],
    };
    Some(
        projects
            .iter()
            .fold(Grants::none(), |g, p| g.allow(&format!("{p}/*"), actions)),
    )
}

impl HarborFake {
    /// A Harbor with these projects and users (each a member of every project with its role).
    pub fn start(projects: &[&str], users: Vec<User>) -> HarborFake {
        let users = Arc::new(users);
        let project_list: Vec<String> = projects.iter().map(|p| p.to_string()).collect();
        let check_users = users.clone();
        let check_projects = project_list.clone();
        let mut profile = Profile {
            name: "harbor".into(),
            // docs/registries.md#harbor, registry side: realm <external-url>/service/token, service
            // harbor-registry, and Basic works directly too.
            auth: Auth::Bearer(BearerAuth {
                realm: "/service/token".into(),
                service: Some("harbor-registry".into()),
                check: Arc::new(move |c| grants_for(&check_users, &check_projects, c)),
                accept_basic: true,
                ..BearerAuth::default()
            }),
            // docs/registries.md#harbor: registry tag DELETE → 405; digest DELETE → 202;
            // referrers from 2.8.
            tag_delete: TagDelete::Unsupported,
            referrers: true,
            ..Profile::distribution()
        };
        profile.hooks.on_manifest_put = Some(Arc::new(
            |s: &mut Store, repo: &str, _digest: &str, tag: Option<&str>| {
                if let Some(t) = tag {
                    s.ext_mut::<HarborState>()
                        .tag_pushed
                        .insert((repo.to_string(), t.to_string()), SystemTime::now());
                }
            },
        ));
        // Immutability rules hold on the registry side too (docs/registries.md#harbor).
        profile.hooks.check_delete = Some(Arc::new(|s: &Store, repo: &str, reference: &str| {
            let Some(r) = s.repo(repo) else { return Ok(()) };
            let Some(digest) = r.resolve(reference) else {
                return Ok(());
            };
            match immutable_tag_on(s, repo, &digest) {
                Some(t) => Err(OciError::new(
                    412,
                    "PRECONDITION",
                    &format!("the tag {t} configured as immutable, cannot be deleted"),
                    Value::Null,
                )),
                None => Ok(()),
            }
        }));
        let api_users = users.clone();
        let fake = FakeOci::start_with(profile, move |h: FakeHandle| {
            let users = api_users.clone();
            Router::new().route(
                "/api/v2.0/{*rest}",
                any(move |method: Method, uri: Uri, headers: HeaderMap| {
                    let h = h.clone();
                    let users = users.clone();
                    async move { api(&h, &users, &method, &uri, &headers) }
                }),
            )
        });
        fake.with_store(|s| {
            s.ext_mut::<HarborState>().projects = project_list.iter().cloned().collect();
        });
        HarborFake { fake }
    }

    /// Marks a tag immutable (an immutability rule matching it).
    pub fn make_immutable(&self, repo: &str, tag: &str) {
        self.with_store(|s| {
            s.ext_mut::<HarborState>()
                .immutable
                .insert((repo.to_string(), tag.to_string()));
        });
    }

    /// Records a pull of `repo@digest` at `when` (the artifact's `pull_time`).
    pub fn set_pulled(&self, repo: &str, digest: &str, when: SystemTime) {
        self.with_store(|s| {
            s.ext_mut::<HarborState>()
                .pulled
                .insert((repo.to_string(), digest.to_string()), when);
        });
    }

    /// Moves every push of `repo@digest` (the artifact's and its tags') to `when`.
    pub fn set_pushed_all(&self, repo: &str, digest: &str, when: SystemTime) {
        self.set_pushed(repo, digest, when);
        self.with_store(|s| {
            let tags = s.repo(repo).map(|r| r.tags_of(digest)).unwrap_or_default();
            let st = s.ext_mut::<HarborState>();
            for t in tags {
                st.tag_pushed.insert((repo.to_string(), t), when);
            }
        });
    }

    /// Harbor API requests (`/api/v2.0/…`) as `METHOD raw-path[?query]`.
    pub fn api_requests(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/api/v2.0/"))
            .map(|r| match r.query {
                Some(q) => format!("{} {}?{q}", r.method, r.path),
                None => format!("{} {}", r.method, r.path),
            })
            .collect()
    }
}

fn immutable_tag_on(s: &Store, repo: &str, digest: &str) -> Option<String> {
    let state = s.ext::<HarborState>()?;
    let r = s.repo(repo)?;
    r.tags_of(digest)
        .into_iter()
        .find(|t| state.immutable.contains(&(repo.to_string(), t.clone())))
}

fn harbor_error(status: u16, code: &str, message: &str) -> Response {
    // docs/registries.md#harbor: errors are {"errors":[{"code","message"}]}.
    let body = json!({"errors": [{"code": code, "message": message}]});
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_ok(v: &Value, extra: &[(&str, String)]) -> Response {
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response();
    for (k, val) in extra {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            val.parse().unwrap(),
        );
    }
    resp
}

/// Percent-decodes once (`%25` → `%`, `%2F` → `/`).
pub fn decode_once(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(&b[i + 1..i + 3]), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                decode_once(&k.replace('+', " ")),
                decode_once(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn rfc3339(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let secs = ms / 1000;
    let base = super::util::rfc3339(secs);
    // Harbor writes milliseconds: 2024-05-01T12:00:00.000Z.
    format!("{}.{:03}Z", base.trim_end_matches('Z'), ms % 1000)
}

/// Who calls the API: Basic credentials checked against the users.
enum ApiCaller<'a> {
    Anonymous,
    User(&'a User),
    Refused,
}

fn api_caller<'a>(users: &'a [User], headers: &HeaderMap) -> ApiCaller<'a> {
    use base64::Engine;
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return ApiCaller::Anonymous;
    };
    let Some(b64) = v.strip_prefix("Basic ") else {
        // The Harbor API takes Basic; a registry Bearer token is not a login here.
        return ApiCaller::Refused;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return ApiCaller::Refused;
    };
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let Some((user, pass)) = raw.split_once(':') else {
        return ApiCaller::Refused;
    };
    // `robot$proj+ci` arrives with its `$` intact, or it does not match.
    match users.iter().find(|u| u.name == user && u.password == pass) {
        Some(u) => ApiCaller::User(u),
        None => ApiCaller::Refused,
    }
}

fn api(
    h: &FakeHandle,
    users: &[User],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    // The raw path: `%252F` still encoded twice. Harbor's router decodes the path once and then
    // matches segments, so a single-encoded `a%2Fb` splits into two segments and finds no route.
    let raw = uri.path().strip_prefix("/api/v2.0").unwrap_or("");
    let once = decode_once(raw);
    let segs: Vec<&str> = once.split('/').filter(|s| !s.is_empty()).collect();
    // CSRF: only requests carrying a UI session cookie are checked (docs/registries.md#harbor).
    if headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("sid="))
        && *method != Method::GET
    {
        return harbor_error(403, "FORBIDDEN", "CSRF token invalid");
    }
    let caller = api_caller(users, headers);
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["ping"]) => ([(header::CONTENT_TYPE, "text/plain")], "Pong").into_response(),
        (Method::GET, ["systeminfo"]) => {
            // docs/registries.md#harbor: the anonymous subset; more for a logged-in caller.
            let mut v = json!({
                "auth_mode": "db_auth",
                "primary_auth_mode": false,
                "self_registration": false,
                "banner_message": "",
            });
            if let ApiCaller::User(_) = caller {
                v["harbor_version"] = json!("v2.11.0-fake");
                v["external_url"] = json!(h.url());
                v["registry_url"] = json!(h.host());
                v["read_only"] = json!(false);
            }
            json_ok(&v, &[])
        }
        (_, _) if matches!(caller, ApiCaller::Refused) => {
            harbor_error(401, "UNAUTHORIZED", "unauthorized")
        }
        (_, _) if matches!(caller, ApiCaller::Anonymous) => {
            // Every project of this fake is private.
            harbor_error(401, "UNAUTHORIZED", "unauthorized")
        }
        (Method::GET | Method::HEAD, ["projects", p]) => {
            let exists = h.with_store(|s| {
                s.ext::<HarborState>()
                    .is_some_and(|st| st.projects.contains(*p))
            });
            if exists {
                json_ok(
                    &json!({"name": p, "project_id": 1, "metadata": {"public": "false"}}),
                    &[],
                )
            } else {
                harbor_error(404, "NOT_FOUND", &format!("project {p} not found"))
            }
        }
        // List repositories of a project (Harbor API v2.0 `GET /projects/{p}/repositories`):
        // names include the project, `page_size` ≤ 100 (default 10), `X-Total-Count`, `Link`.
        (Method::GET, ["projects", p, "repositories"]) => {
            let project_known = h.with_store(|s| {
                s.ext::<HarborState>()
                    .is_some_and(|st| st.projects.contains(*p))
            });
            if !project_known {
                return harbor_error(404, "NOT_FOUND", &format!("project {p} not found"));
            }
            list_repositories(h, p, uri)
        }
        (m, ["projects", p, "repositories", r, "artifacts", rest @ ..]) => {
            let ApiCaller::User(user) = caller else {
                unreachable!("handled above")
            };
            // The second decoding: `team%2Fapp` → `team/app`.
            let name = format!("{p}/{}", decode_once(r));
            let project_known = h.with_store(|s| {
                s.ext::<HarborState>()
                    .is_some_and(|st| st.projects.contains(*p))
            });
            if !project_known {
                return harbor_error(404, "NOT_FOUND", &format!("project {p} not found"));
            }
            match (m, rest) {
                (Method::GET, []) => list_artifacts(h, &name, uri),
                (Method::DELETE, [reference]) => {
                    if user.role != Role::Maintainer {
                        return harbor_error(403, "FORBIDDEN", "forbidden");
                    }
                    delete_artifact(h, &name, reference)
                }
                (Method::DELETE, [reference, "tags", tag]) => {
                    if user.role != Role::Maintainer {
                        return harbor_error(403, "FORBIDDEN", "forbidden");
                    }
                    delete_tag(h, &name, reference, tag)
                }
                _ => harbor_error(404, "NOT_FOUND", "no such route"),
            }
        }
        _ => harbor_error(404, "NOT_FOUND", "no such route"),
    }
}

fn list_repositories(h: &FakeHandle, project: &str, uri: &Uri) -> Response {
    let q = query_map(uri);
    let page_size: usize = q
        .get("page_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    if page_size == 0 || page_size > 100 {
        return harbor_error(400, "BAD_REQUEST", "page_size must be between 1 and 100");
    }
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let prefix = format!("{project}/");
    let names: Vec<String> = h.with_store(|s| {
        s.repos
            .iter()
            .filter(|(n, r)| n.starts_with(&prefix) && !r.manifests.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    });
    let total = names.len();
    let start = (page - 1) * page_size;
    let slice: Vec<Value> = names
        .iter()
        .skip(start)
        .take(page_size)
        .map(|n| json!({"name": n, "project_id": 1, "artifact_count": 1}))
        .collect();
    let mut extra = vec![("x-total-count", total.to_string())];
    if start + page_size < total {
        extra.push((
            "link",
            format!(
                "<{}?page={}&page_size={page_size}>; rel=\"next\"",
                uri.path(),
                page + 1
            ),
        ));
    }
    json_ok(&json!(slice), &extra)
}

/// Top-level artifacts: neither an index child nor an accessory (a manifest with a subject).
fn top_level(s: &Store, repo: &str) -> Vec<String> {
    let Some(r) = s.repo(repo) else {
        return Vec::new();
    };
    r.manifests
        .iter()
        .filter(|(d, m)| m.subject.is_none() && r.parents_of(d).is_empty())
        .map(|(d, _)| d.clone())
        .collect()
}

fn list_artifacts(h: &FakeHandle, repo: &str, uri: &Uri) -> Response {
    let q = query_map(uri);
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    // docs/registries.md#harbor: page_size ≤ 100, default 10.
    let page_size: usize = q
        .get("page_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    if page_size == 0 || page_size > 100 {
        return harbor_error(400, "BAD_REQUEST", "page_size must be between 1 and 100");
    }
    let with_tag = q.get("with_tag").is_none_or(|v| v == "true");
    let filter = q.get("q").cloned().unwrap_or_default();
    let items: Vec<Value> = h.with_store(|s| {
        let r = s.repo(repo)?;
        let state = s.ext::<HarborState>();
        let mut arts: Vec<(SystemTime, String, Value)> = Vec::new();
        for d in top_level(s, repo) {
            let m = &r.manifests[&d];
            let tags = r.tags_of(&d);
            let keep = match filter.strip_prefix("tags=") {
                None => true,
                Some("*") => !tags.is_empty(),
                Some("nil") => tags.is_empty(),
                Some(v) => match v.strip_prefix('~') {
                    Some(f) => tags.iter().any(|t| t.contains(f)),
                    None => tags.iter().any(|t| t == v),
                },
            };
            if !keep {
                continue;
            }
            let tag_values: Vec<Value> = tags
                .iter()
                .map(|t| {
                    let pushed = state
                        .and_then(|st| st.tag_pushed.get(&(repo.to_string(), t.clone())))
                        .copied()
                        .unwrap_or(m.pushed);
                    json!({
                        "name": t,
                        "push_time": rfc3339(pushed),
                        "pull_time": "0001-01-01T00:00:00.000Z",
                        "immutable": state.is_some_and(|st| st.immutable.contains(&(repo.to_string(), t.clone()))),
                    })
                })
                .collect();
            // docs/registries.md#harbor: media_type is the config's, manifest_media_type the
            // manifest's.
            let v = json!({
                "digest": d,
                "media_type": m.config_media_type.clone().unwrap_or_else(|| m.media_type.clone()),
                "manifest_media_type": m.media_type,
                "type": "IMAGE",
                "size": m.bytes.len(),
                "push_time": rfc3339(m.pushed),
                "pull_time": state
                    .and_then(|st| st.pulled.get(&(repo.to_string(), d.clone())))
                    .map_or_else(|| "0001-01-01T00:00:00.000Z".to_string(), |t| rfc3339(*t)),
                "tags": if with_tag { json!(tag_values) } else { Value::Null },
                "references": m.children.iter().map(|c| json!({"child_digest": c})).collect::<Vec<_>>(),
            });
            arts.push((m.pushed, d.clone(), v));
        }
        // Newest first (the UI's default sort).
        arts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Some(arts.into_iter().map(|(_, _, v)| v).collect())
    })
    .unwrap_or_default();
    let total = items.len();
    let start = (page - 1) * page_size;
    let slice: Vec<Value> = items.into_iter().skip(start).take(page_size).collect();
    let mut extra = vec![("x-total-count", total.to_string())];
    if start + page_size < total {
        // Link keeps the other query parameters (relative, as Harbor writes it).
        let mut params: Vec<String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page=") && !p.starts_with("page_size="))
            .map(String::from)
            .collect();
        params.push(format!("page={}", page + 1));
        params.push(format!("page_size={page_size}"));
        extra.push((
            "link",
            format!("<{}?{}>; rel=\"next\"", uri.path(), params.join("&")),
        ));
    }
    json_ok(&json!(slice), &extra)
}

/// Removes `digest` with its tags, its accessories (manifests whose subject it is) and its
/// children no other manifest lists (Harbor deletes artifacts "deeply").
fn delete_deeply(s: &mut Store, repo: &str, digest: &str) {
    let Some(r) = s.repo(repo) else { return };
    let Some(m) = r.manifests.get(digest).cloned() else {
        return;
    };
    let accessories = r.referrers_of(digest);
    s.remove_manifest(repo, digest);
    for a in accessories {
        delete_deeply(s, repo, &a);
    }
    for c in m.children {
        let Some(r) = s.repo(repo) else { return };
        if r.parents_of(&c).is_empty() && r.tags_of(&c).is_empty() {
            delete_deeply(s, repo, &c);
        }
    }
}

fn delete_artifact(h: &FakeHandle, repo: &str, reference: &str) -> Response {
    h.with_store(|s| {
        let Some(digest) = s.repo(repo).and_then(|r| r.resolve(reference)) else {
            return harbor_error(
                404,
                "NOT_FOUND",
                &format!("artifact {repo}@{reference} not found"),
            );
        };
        // docs/registries.md#harbor: one immutable tag blocks deleting the whole artifact.
        if let Some(t) = immutable_tag_on(s, repo, &digest) {
            return harbor_error(
                412,
                "PRECONDITION",
                &format!("the tag {t} configured as immutable, cannot be deleted"),
            );
        }
        delete_deeply(s, repo, &digest);
        StatusCode::OK.into_response()
    })
}

fn delete_tag(h: &FakeHandle, repo: &str, reference: &str, tag: &str) -> Response {
    h.with_store(|s| {
        let Some(r) = s.repo(repo) else {
            return harbor_error(404, "NOT_FOUND", "repository not found");
        };
        let Some(digest) = r.resolve(reference) else {
            return harbor_error(404, "NOT_FOUND", &format!("artifact {reference} not found"));
        };
        if r.tags.get(tag) != Some(&digest) {
            return harbor_error(404, "NOT_FOUND", &format!("tag {tag} not found"));
        }
        let immutable = s
            .ext::<HarborState>()
            .is_some_and(|st| st.immutable.contains(&(repo.to_string(), tag.to_string())));
        if immutable {
            return harbor_error(
                412,
                "PRECONDITION",
                &format!("the tag {tag} configured as immutable, cannot be deleted"),
            );
        }
        s.repo_mut(repo).tags.remove(tag);
        StatusCode::OK.into_response()
    })
}
