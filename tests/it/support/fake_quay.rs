//! A Quay fake (docs/registries.md#quay, #test-fakes): the in-memory OCI registry with Quay's
//! registry behaviour, plus the Quay REST API (`/api/v1`) on the same host, over the same store.
//!
//! Registry side: challenge `Bearer realm="<url>/v2/auth",service="<host>"`; the token endpoint
//! knows `pull` and `push` only, and DELETE needs `push` (Quay's v2 DELETE routes); tag DELETE and
//! digest DELETE → 202 (every tag on the digest goes), refused with 409 `TAG_IMMUTABLE` while an
//! immutable tag is on it; `tags/list` 50 per page with an opaque `next_page`, `last` ignored;
//! a mount without `from` is an error; an expired tag answers `TAG_EXPIRED`. Logins: robot
//! accounts (`ns+name`) and `$oauthtoken` with an OAuth token.
//! API side: `Authorization: Bearer <OAuth token>` with scopes (`repo:read`, `repo:write`);
//! robot tokens are refused; `GET …/tag/` with `onlyActiveTags`, `limit` (≤ 100, default 50),
//! `page`, `has_additional` (history entries with `end_ts` when `onlyActiveTags` is left out);
//! `DELETE …/tag/{tag}` → 204, 409 `tag_immutable`, 404 for a missing or expired tag;
//! anonymous `GET /api/v1/discovery`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::fake_harbor::decode_once;
use super::fake_oci::{
    Auth, BearerAuth, Credentials, DigestDelete, FakeHandle, FakeOci, Grants, MountWithoutFrom,
    OciError, Profile, Refusal, Store, TagDelete, TagPaging, V2Override, V2Request,
};

/// An OAuth application token and its scopes.
#[derive(Clone, Debug)]
pub struct Token {
    pub token: String,
    pub scopes: Vec<&'static str>,
}

/// A robot account (`namespace+name`) with write permission on the namespace.
#[derive(Clone, Debug)]
pub struct Robot {
    pub name: String,
    pub token: String,
}

/// Quay's records beside the OCI store.
#[derive(Default)]
pub struct QuayState {
    /// (repository, tag) → start_ts (epoch seconds) of the current tag.
    pub start_ts: BTreeMap<(String, String), i64>,
    /// Ended tag entries: (repository, tag, digest, start_ts, end_ts).
    pub history: Vec<(String, String, String, i64, i64)>,
    pub immutable: BTreeSet<(String, String)>,
    /// Tags that expired (answer `TAG_EXPIRED` on the registry).
    pub expired: BTreeSet<(String, String)>,
}

pub struct QuayFake {
    pub fake: FakeOci,
}

impl std::ops::Deref for QuayFake {
    type Target = FakeOci;
    fn deref(&self) -> &FakeOci {
        &self.fake
    }
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn grants(namespace: &str, write: bool) -> Grants {
    // Quay's token endpoint grants `pull`, `push` (and `*`); it has no `delete` action.
    let actions: &[&str] = if write { &["pull", "push"] } else { &["pull"] };
    Grants::none().allow(&format!("{namespace}/*"), actions)
}

impl QuayFake {
    /// A Quay with one namespace, its OAuth tokens and robots.
    pub fn start(namespace: &str, tokens: Vec<Token>, robots: Vec<Robot>) -> QuayFake {
        let ns = namespace.to_string();
        let check_tokens = tokens.clone();
        let check_robots = robots.clone();
        let check_ns = ns.clone();
        let mut profile = Profile {
            name: "quay".into(),
            auth: Auth::Bearer(BearerAuth {
                // docs/registries.md#quay, registry side: realm https://<quay>/v2/auth, service
                // <host>.
                realm: "/v2/auth".into(),
                service: Some("quay-fake".into()),
                check: Arc::new(move |c| match c {
                    Credentials::Anonymous => Some(Grants::none()),
                    Credentials::Basic { user, password } if user == "$oauthtoken" => check_tokens
                        .iter()
                        .find(|t| &t.token == password)
                        .map(|t| grants(&check_ns, t.scopes.contains(&"repo:write"))),
                    Credentials::Basic { user, password } => check_robots
                        .iter()
                        .find(|r| &r.name == user && &r.token == password)
                        .map(|_| grants(&check_ns, true)),
                }),
                ..BearerAuth::default()
            }),
            tag_delete: TagDelete::Untag,
            digest_delete: DigestDelete::RemoveWithTags,
            delete_needs: Some(vec!["pull", "push"]),
            // docs/registries.md#quay: tags/list 50 per page, opaque next_page, `last` ignored.
            tag_paging: TagPaging::FixedPage { size: 50 },
            // docs/registries.md#quay: a mount without `from` fails.
            mount_without_from: MountWithoutFrom::Refuse(Refusal::new(
                400,
                "BLOB_UPLOAD_INVALID",
                "mount without from is not supported",
            )),
            referrers: false,
            ..Profile::distribution()
        };
        profile.hooks.on_manifest_put = Some(Arc::new(
            |s: &mut Store, repo: &str, digest: &str, tag: Option<&str>| {
                let Some(t) = tag else { return };
                let st = s.ext_mut::<QuayState>();
                let key = (repo.to_string(), t.to_string());
                // Moving a tag ends its previous entry (the history keeps it).
                if let Some(start) = st.start_ts.get(&key).copied() {
                    st.history
                        .push((repo.into(), t.into(), String::new(), start, now_s()));
                }
                st.start_ts.insert(key.clone(), now_s());
                st.expired.remove(&key);
                let _ = digest;
            },
        ));
        profile.hooks.check_delete = Some(Arc::new(|s: &Store, repo: &str, reference: &str| {
            let Some(r) = s.repo(repo) else { return Ok(()) };
            let Some(digest) = r.resolve(reference) else {
                return Ok(());
            };
            let tags = if reference.contains(':') {
                r.tags_of(&digest)
            } else {
                vec![reference.to_string()]
            };
            let st = s.ext::<QuayState>();
            match tags.iter().find(|t| {
                st.is_some_and(|st| st.immutable.contains(&(repo.to_string(), (*t).clone())))
            }) {
                // Quay's v2 DELETE: `TagImmutable` (409).
                Some(t) => Err(OciError::new(
                    409,
                    "TAG_IMMUTABLE",
                    "tag is immutable",
                    json!({"message": format!("tag '{t}' is immutable")}),
                )),
                None => Ok(()),
            }
        }));
        let tag_deleted = |s: &mut Store, repo: &str, tag: &str, digest: &str| {
            let st = s.ext_mut::<QuayState>();
            let key = (repo.to_string(), tag.to_string());
            let start = st.start_ts.remove(&key).unwrap_or(0);
            st.history
                .push((repo.into(), tag.into(), digest.into(), start, now_s()));
        };
        profile.hooks.on_tag_delete = Some(Arc::new(tag_deleted));
        profile.hooks.on_manifest_delete = Some(Arc::new(
            move |s: &mut Store, repo: &str, digest: &str, tags: &[String]| {
                for t in tags {
                    tag_deleted(s, repo, t, digest);
                }
            },
        ));
        // An expired tag answers TAG_EXPIRED on manifest reads (docs/registries.md#quay).
        let expired: V2Override = Arc::new(|req: &V2Request, h: &FakeHandle| {
            let repo = req.repo.as_deref()?;
            let reference = req.rest.strip_prefix(&format!("{repo}/manifests/"))?;
            let gone = h.with_store(|s| {
                s.ext::<QuayState>().is_some_and(|st| {
                    st.expired
                        .contains(&(repo.to_string(), reference.to_string()))
                })
            });
            gone.then(|| {
                OciError::new(
                    404,
                    "TAG_EXPIRED",
                    "Tag has expired",
                    json!({"tag": reference}),
                )
                .into_response()
            })
        });
        profile.hooks.v2_override = Some(expired);
        let api_tokens = Arc::new(tokens);
        let api_robots = Arc::new(robots);
        let fake = FakeOci::start_with(profile, move |h: FakeHandle| {
            Router::new().route(
                "/api/v1/{*rest}",
                any(move |method: Method, uri: Uri, headers: HeaderMap| {
                    let h = h.clone();
                    let tokens = api_tokens.clone();
                    let robots = api_robots.clone();
                    async move { api(&h, &tokens, &robots, &method, &uri, &headers) }
                }),
            )
        });
        let host = fake.host();
        fake.update_profile(|p| {
            if let Auth::Bearer(b) = &mut p.auth {
                b.service = Some(host.clone());
            }
        });
        let _ = ns;
        QuayFake { fake }
    }

    pub fn make_immutable(&self, repo: &str, tag: &str) {
        self.with_store(|s| {
            s.ext_mut::<QuayState>()
                .immutable
                .insert((repo.to_string(), tag.to_string()));
        });
    }

    /// Lets a tag expire: it leaves the active tags for the history, and reads of it answer
    /// `TAG_EXPIRED`.
    pub fn expire(&self, repo: &str, tag: &str) {
        self.with_store(|s| {
            let digest = s
                .repo_mut(repo)
                .tags
                .remove(tag)
                .unwrap_or_else(|| panic!("no tag {repo}:{tag}"));
            let st = s.ext_mut::<QuayState>();
            let key = (repo.to_string(), tag.to_string());
            let start = st.start_ts.remove(&key).unwrap_or(0);
            st.history
                .push((repo.into(), tag.into(), digest, start, now_s() - 1));
            st.expired.insert(key);
        });
    }

    /// Quay API requests as `METHOD path[?query]`.
    pub fn api_requests(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/api/v1/"))
            .map(|r| match r.query {
                Some(q) => format!("{} {}?{q}", r.method, r.path),
                None => format!("{} {}", r.method, r.path),
            })
            .collect()
    }
}

/// Errors are RFC 7807-like (docs/registries.md#quay).
fn quay_error(status: u16, error_type: &str, detail: &str) -> Response {
    let body = json!({
        "status": status,
        "error_message": detail,
        "title": error_type,
        "error_type": error_type,
        "detail": detail,
        "type": format!("https://quay.io/api/v1/error/{error_type}"),
    });
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn rfc2822(secs: i64) -> String {
    // `Mon, 06 Jan 2025 10:00:00 -0000`.
    let d = super::util::http_date(secs as u64);
    d.replace(" GMT", " -0000")
}

fn api(
    h: &FakeHandle,
    tokens: &[Token],
    robots: &[Robot],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let path = decode_once(uri.path().strip_prefix("/api/v1").unwrap_or(""));
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if *method == Method::GET && segs == ["discovery"] {
        // docs/registries.md#quay: anonymous Swagger 2.0 with info.title "Quay Frontend".
        let v = json!({
            "swagger": "2.0",
            "info": {"title": "Quay Frontend", "version": "v1"},
            "basePath": "/api/v1",
            "paths": {},
        });
        return ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(bearer) = bearer else {
        return quay_error(401, "invalid_token", "Requires authentication");
    };
    // Robot tokens are registry logins only (docs/registries.md#quay).
    if robots.iter().any(|r| r.token == bearer) {
        return quay_error(401, "invalid_token", "Robot tokens cannot access the API");
    }
    let Some(token) = tokens.iter().find(|t| t.token == bearer) else {
        return quay_error(401, "invalid_token", "Invalid or expired token");
    };
    match (method.clone(), segs.as_slice()) {
        // listRepos (docs.quay.io/api/swagger): `namespace` (or public/starred) required, 100
        // a page, the next one named by an opaque `next_page` token.
        (Method::GET, ["repository"]) => {
            if !token.scopes.contains(&"repo:read") {
                return quay_error(403, "insufficient_scope", "repo:read is required");
            }
            list_repositories(h, uri)
        }
        (Method::GET, ["repository", ns, repo, "tag"]) => {
            if !token.scopes.contains(&"repo:read") {
                return quay_error(403, "insufficient_scope", "repo:read is required");
            }
            list_tags(h, &format!("{ns}/{repo}"), uri)
        }
        (Method::DELETE, ["repository", ns, repo, "tag", tag]) => {
            if !token.scopes.contains(&"repo:write") {
                return quay_error(403, "insufficient_scope", "repo:write is required");
            }
            delete_tag(h, &format!("{ns}/{repo}"), tag)
        }
        _ => quay_error(404, "not_found", "Not Found"),
    }
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_once(k), decode_once(v))
        })
        .collect()
}

/// Repositories a page in listRepos.
const REPOS_PER_PAGE: usize = 100;

fn list_repositories(h: &FakeHandle, uri: &Uri) -> Response {
    let q = query(uri);
    let Some(ns) = q.get("namespace").filter(|n| !n.is_empty()) else {
        return quay_error(
            400,
            "invalid_request",
            "namespace, starred or public are required for this API call",
        );
    };
    // The token is opaque to clients; here it is `o<offset>` backwards, so that a client that
    // builds page numbers itself gets nothing.
    let offset = match q.get("next_page") {
        None => 0,
        Some(t) => match t
            .strip_suffix('o')
            .and_then(|n| n.chars().rev().collect::<String>().parse::<usize>().ok())
        {
            Some(o) => o,
            None => return quay_error(400, "invalid_request", "Invalid next page token"),
        },
    };
    let prefix = format!("{ns}/");
    let names: Vec<String> = h.with_store(|s| {
        s.repos
            .keys()
            .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
            .collect()
    });
    let page: Vec<Value> = names
        .iter()
        .skip(offset)
        .take(REPOS_PER_PAGE)
        .map(|n| json!({"namespace": ns, "name": n, "is_public": false, "kind": "image"}))
        .collect();
    let mut v = json!({ "repositories": page });
    let end = offset + REPOS_PER_PAGE;
    if end < names.len() {
        v["next_page"] = json!(format!(
            "{}o",
            end.to_string().chars().rev().collect::<String>()
        ));
    }
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn list_tags(h: &FakeHandle, repo: &str, uri: &Uri) -> Response {
    let q = query(uri);
    let only_active = q
        .get("onlyActiveTags")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // docs/registries.md#quay: limit ≤ 100 (default 50), page from 1.
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(50);
    if limit == 0 || limit > 100 {
        return quay_error(400, "invalid_request", "limit must be between 1 and 100");
    }
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let entries: Option<Vec<(i64, Value)>> = h.with_store(|s| {
        let r = s.repo(repo)?;
        let st = s.ext::<QuayState>();
        let mut out = Vec::new();
        for (tag, digest) in &r.tags {
            let m = &r.manifests[digest];
            let start = st
                .and_then(|st| st.start_ts.get(&(repo.to_string(), tag.clone())))
                .copied()
                .unwrap_or_else(|| {
                    m.pushed.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
                });
            out.push((
                start,
                json!({
                    "name": tag,
                    "reversion": false,
                    "start_ts": start,
                    "manifest_digest": digest,
                    "is_manifest_list": m.is_index(),
                    "size": m.bytes.len(),
                    "last_modified": rfc2822(start),
                    "immutable": st.is_some_and(|st| st.immutable.contains(&(repo.to_string(), tag.clone()))),
                }),
            ));
        }
        if !only_active && let Some(st) = st {
            // Without onlyActiveTags the answer is the history: ended entries too.
            for (r_, tag, digest, start, end) in &st.history {
                if r_ == repo {
                    out.push((
                        *start,
                        json!({
                            "name": tag,
                            "reversion": false,
                            "start_ts": start,
                            "end_ts": end,
                            "manifest_digest": digest,
                            "is_manifest_list": false,
                            "last_modified": rfc2822(*start),
                            "expiration": rfc2822(*end),
                        }),
                    ));
                }
            }
        }
        // Newest first, as Quay sorts.
        out.sort_by_key(|e| std::cmp::Reverse(e.0));
        Some(out)
    });
    let Some(entries) = entries else {
        return quay_error(404, "not_found", "Not Found");
    };
    let start = (page - 1) * limit;
    let tags: Vec<Value> = entries
        .iter()
        .skip(start)
        .take(limit)
        .map(|(_, v)| v.clone())
        .collect();
    let v = json!({
        "tags": tags,
        "page": page,
        "has_additional": start + limit < entries.len(),
    });
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn delete_tag(h: &FakeHandle, repo: &str, tag: &str) -> Response {
    h.with_store(|s| {
        let key = (repo.to_string(), tag.to_string());
        let st = s.ext::<QuayState>();
        if st.is_some_and(|st| st.immutable.contains(&key)) {
            // Quay: DELETE on an immutable tag → 409 tag_immutable.
            return quay_error(409, "tag_immutable", &format!("Tag {tag} is immutable"));
        }
        let Some(digest) = s.repo(repo).and_then(|r| r.tags.get(tag).cloned()) else {
            // Missing or expired: not an active tag.
            return quay_error(404, "not_found", "Not Found");
        };
        s.repo_mut(repo).tags.remove(tag);
        let st = s.ext_mut::<QuayState>();
        let start = st.start_ts.remove(&key).unwrap_or(0);
        st.history
            .push((repo.into(), tag.into(), digest, start, now_s()));
        StatusCode::NO_CONTENT.into_response()
    })
}
