//! The HTTP side: routing of `/v2/…` (repository names contain `/`, so the
//! suffix decides the endpoint), the handlers, and the middleware that logs
//! requests, injects faults and adds the common headers.
//!
//! Every behaviour cites its source: distribution-spec v1.1 ("spec"),
//! docs/registries.md sections, and distribution 2.8 as observed ([V]).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{Caller, Need, token_endpoint};
use super::error::OciError;
use super::profile::{
    Auth, DigestDelete, MountWithoutFrom, Profile, TagDelete, TagPaging, V2Request,
};
use super::store::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, Upload, digest_as, is_digest,
    is_repo_name, looks_like_digest,
};
use super::{FakeHandle, FaultAction, LoggedRequest, RetryAfter};

/// The object-storage server blob GETs redirect to (see
/// `Profile::redirect_blobs`): serves `/blob-data/<digest>?sig=<presigned>`,
/// refuses a request that also carries `Authorization` (S3: 400 "Only one
/// auth mechanism allowed"), and logs into the storage log.
pub(super) fn storage_router(h: FakeHandle) -> Router {
    Router::new().fallback(storage).with_state(h)
}

async fn storage(State(h): State<FakeHandle>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let sig = param(&query_pairs(query.as_deref()), "sig");
    let digest = path.strip_prefix("/blob-data/").unwrap_or("");
    let signed = sig
        .and_then(|s| h.0.signatures.lock().unwrap().get(&s).cloned())
        .is_some_and(|d| d == digest);
    let data = h.with_store(|s| s.blobs.get(digest).cloned());
    let resp = match (method.clone(), signed, data) {
        _ if authorization.is_some() => plain(
            400,
            "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
        ),
        (Method::GET, true, Some(data)) => with_headers(
            (StatusCode::OK, data.as_ref().clone()).into_response(),
            &[("content-type", "application/octet-stream".into())],
        ),
        (_, false, _) => plain(403, "<Error><Code>AccessDenied</Code></Error>"),
        _ => plain(404, "<Error><Code>NoSuchKey</Code></Error>"),
    };
    h.0.storage_log.lock().unwrap().push(LoggedRequest {
        method: method.to_string(),
        path,
        query,
        headers: Vec::new(),
        authorization,
        status: resp.status().as_u16(),
        response_headers: selected(resp.headers(), LOGGED_RESPONSE_HEADERS),
    });
    resp
}

pub(super) fn router(h: FakeHandle, extra: Router) -> Router {
    let registry: Router = Router::new().fallback(dispatch).with_state(h.clone());
    extra
        .fallback_service(registry)
        // Blobs may be large; manifests are capped by the profile instead.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(h, observe))
}

const LOGGED_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "content-length",
    "content-range",
    "range",
    "if-none-match",
    "user-agent",
];
const LOGGED_RESPONSE_HEADERS: &[&str] = &[
    "location",
    "docker-content-digest",
    "content-type",
    "content-length",
    "www-authenticate",
    "range",
    "link",
    "oci-subject",
    "retry-after",
    "docker-upload-uuid",
    "oci-filters-applied",
];

fn selected(headers: &HeaderMap, names: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in names {
        for v in headers.get_all(*n) {
            out.push((n.to_string(), v.to_str().unwrap_or("<binary>").to_string()));
        }
    }
    out
}

/// Faults first (a rate limiter sits in front of everything), then the
/// handler; common headers, the response hook, and the log after.
async fn observe(State(h): State<FakeHandle>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let req_headers = selected(req.headers(), LOGGED_REQUEST_HEADERS);
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);

    let fault = {
        let mut faults = h.0.faults.lock().unwrap();
        let hit = faults.iter_mut().find(|f| {
            f.count > 0
                && f.method.as_ref().is_none_or(|m| *m == method)
                && path.contains(&f.path_contains)
        });
        hit.map(|f| {
            f.count -= 1;
            f.action.clone()
        })
    };
    let mut resp = match fault {
        Some(action) => fault_response(action),
        None => next.run(req).await,
    };

    let profile = h.profile();
    let hdrs = resp.headers_mut();
    // Every distribution response carries it [V] (docs/registries.md#real-servers-in-the-tests);
    // clients may use it to recognise a registry.
    hdrs.insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    for (k, v) in &profile.extra_headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            hdrs.insert(k, v);
        }
    }
    let status = resp.status().as_u16();
    if let Some(hook) = &profile.hooks.on_response {
        hook(&method, &path, status, resp.headers_mut());
    }
    h.0.log.lock().unwrap().push(LoggedRequest {
        method: method.to_string(),
        path,
        query,
        headers: req_headers,
        authorization,
        status,
        response_headers: selected(resp.headers(), LOGGED_RESPONSE_HEADERS),
    });
    resp
}

fn fault_response(action: FaultAction) -> Response {
    match action {
        FaultAction::TooManyRequests(retry) => {
            let mut e = OciError::new(429, "TOOMANYREQUESTS", "too many requests", Value::Null);
            match retry {
                RetryAfter::Seconds(s) => e = e.with_header("Retry-After", s.to_string()),
                RetryAfter::HttpDate(d) => {
                    let at = (SystemTime::now() + d)
                        .duration_since(UNIX_EPOCH)
                        .expect("clock after 1970")
                        .as_secs();
                    e = e.with_header("Retry-After", super::super::util::http_date(at));
                }
            }
            e.into_response()
        }
        FaultAction::PlainText(s, body) => plain(s, body),
    }
}

fn plain(status: u16, body: impl Into<String>) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.into(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A router miss, as Go's mux answers it: plain-text `404 page not found` [V]
/// (docs/registries.md#referrers).
fn page_not_found() -> Response {
    plain(404, "404 page not found\n")
}

/// The endpoint a `/v2/` path names.
#[derive(Debug, PartialEq)]
enum Route {
    Ping,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
}

/// Parses the part after `/v2/` by its suffix (names contain `/`).
fn parse_route(rest: &str) -> Option<Route> {
    if rest.is_empty() {
        return Some(Route::Ping);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let seg: Vec<&str> = rest.split('/').collect();
    let n = seg.len();
    let name = |k: usize| seg[..n - k].join("/");
    if n >= 3 && seg[n - 2] == "tags" && seg[n - 1] == "list" {
        return Some(Route::Tags(name(2)));
    }
    if n >= 3 && seg[n - 2] == "manifests" {
        return Some(Route::Manifest(name(2), seg[n - 1].into()));
    }
    if n >= 4 && seg[n - 3] == "blobs" && seg[n - 2] == "uploads" {
        return Some(if seg[n - 1].is_empty() {
            Route::UploadStart(name(3))
        } else {
            Route::Upload(name(3), seg[n - 1].into())
        });
    }
    if n >= 3 && seg[n - 2] == "blobs" && seg[n - 1] == "uploads" {
        return Some(Route::UploadStart(name(2)));
    }
    if n >= 3 && seg[n - 2] == "blobs" {
        return Some(Route::Blob(name(2), seg[n - 1].into()));
    }
    if n >= 3 && seg[n - 2] == "referrers" {
        return Some(Route::Referrers(name(2), seg[n - 1].into()));
    }
    None
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn with_headers(mut resp: Response, headers: &[(&str, String)]) -> Response {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v,
            );
        }
    }
    resp
}

fn empty(status: u16, headers: &[(&str, String)]) -> Response {
    let mut h: Vec<(&str, String)> = vec![("content-length", "0".into())];
    h.extend_from_slice(headers);
    with_headers(
        (StatusCode::from_u16(status).expect("status"), Body::empty()).into_response(),
        &h,
    )
}

fn json_response(value: &Value, content_type: &str, headers: &[(&str, String)]) -> Response {
    let body = serde_json::to_vec(value).expect("JSON body");
    let mut h: Vec<(&str, String)> = vec![("content-type", content_type.into())];
    h.extend_from_slice(headers);
    with_headers((StatusCode::OK, body).into_response(), &h)
}

/// The one handler behind every path no vendor route claimed.
async fn dispatch(State(h): State<FakeHandle>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return plain(400, "unreadable body"),
    };
    let profile = h.profile();
    let path = parts.uri.path();
    let query = parts.uri.query();
    if let Auth::Bearer(cfg) = &profile.auth
        && cfg.realm.starts_with('/')
        && path == cfg.realm
    {
        return token_endpoint(
            &h,
            cfg,
            &parts.method,
            &parts.headers,
            query.unwrap_or(""),
            &body,
        );
    }
    let rest = if path == "/v2" {
        ""
    } else if let Some(r) = path.strip_prefix("/v2/") {
        r
    } else {
        return page_not_found();
    };
    let v2_request = |repo: Option<String>| V2Request {
        method: parts.method.clone(),
        rest: rest.to_string(),
        repo,
        headers: parts.headers.clone(),
    };
    let Some(route) = parse_route(rest) else {
        // A path the OCI API does not know (e.g. GitLab's legacy
        // `tags/reference/<tag>`): only a vendor override may answer it, and
        // it must authorize the request itself (FakeHandle::authorize).
        if let Some(hook) = &profile.hooks.v2_override
            && let Some(resp) = hook(&v2_request(None), &h)
        {
            return resp;
        }
        return page_not_found();
    };
    let repo = match &route {
        Route::Ping | Route::Catalog => None,
        Route::Tags(r)
        | Route::Manifest(r, _)
        | Route::Blob(r, _)
        | Route::UploadStart(r)
        | Route::Upload(r, _)
        | Route::Referrers(r, _) => Some(r.clone()),
    };
    // Names are literal in /v2/ paths (docs/registries.md#names-tags-and-digests): `a%2Fb` is not
    // a name.
    if let Some(r) = &repo
        && !is_repo_name(r)
    {
        return OciError::name_invalid(r).into_response();
    }
    let need = match &route {
        Route::Ping => Need::Ping,
        Route::Catalog => Need::Catalog,
        Route::UploadStart(r) | Route::Upload(r, _) => Need::Repo {
            // Upload sessions need push whatever the method (docs/registries.md#authentication).
            name: r.clone(),
            actions: vec!["pull", "push"],
        },
        _ if parts.method == Method::DELETE && profile.delete_needs.is_some() => Need::Repo {
            name: repo.clone().unwrap_or_default(),
            actions: profile.delete_needs.clone().unwrap_or_default(),
        },
        _ => Need::for_method(repo.as_deref().unwrap_or(""), &parts.method),
    };
    let caller = match h.authorize(&profile.auth, &parts.headers, &need) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    if let Some(hook) = &profile.hooks.v2_override
        && let Some(resp) = hook(&v2_request(repo.clone()), &h)
    {
        return resp;
    }
    let ctx = Ctx {
        h: &h,
        profile: &profile,
        method: &parts.method,
        headers: &parts.headers,
        query: query_pairs(query),
        body,
        caller,
    };
    let result = match (route, parts.method.clone()) {
        (Route::Ping, Method::GET | Method::HEAD) => {
            Ok(json_response(&json!({}), "application/json", &[]))
        }
        (Route::Catalog, Method::GET) if profile.catalog => ctx.catalog(),
        (Route::Tags(r), Method::GET) => ctx.tags_list(&r),
        (Route::Manifest(r, reference), Method::GET | Method::HEAD) => {
            ctx.get_manifest(&r, &reference)
        }
        (Route::Manifest(r, reference), Method::PUT) => ctx.put_manifest(&r, &reference),
        (Route::Manifest(r, reference), Method::DELETE) => ctx.delete_manifest(&r, &reference),
        (Route::Blob(r, d), Method::GET | Method::HEAD) => ctx.get_blob(&r, &d),
        (Route::Blob(r, d), Method::DELETE) => ctx.delete_blob(&r, &d),
        (Route::UploadStart(r), Method::POST) => ctx.start_upload(&r),
        (Route::Upload(r, id), Method::GET | Method::PATCH | Method::PUT | Method::DELETE) => {
            ctx.upload(&r, &id)
        }
        (Route::Referrers(r, d), Method::GET) => ctx.referrers(&r, &d),
        (Route::Catalog, _) => Ok(page_not_found()),
        _ => Err(OciError::unsupported()),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

struct Ctx<'a> {
    h: &'a FakeHandle,
    profile: &'a Profile,
    method: &'a Method,
    headers: &'a HeaderMap,
    query: Vec<(String, String)>,
    body: Bytes,
    caller: Caller,
}

type Res = Result<Response, OciError>;

fn pagination_invalid(n: &str) -> OciError {
    OciError::new(
        400,
        "PAGINATION_NUMBER_INVALID",
        "invalid number of results requested",
        json!({ "n": n }),
    )
}

impl Ctx<'_> {
    fn param(&self, key: &str) -> Option<String> {
        param(&self.query, key)
    }

    /// `n` as a page size: absent → None; malformed or above the cap →
    /// 400 `PAGINATION_NUMBER_INVALID` (distribution 3.x [S]; ECR's cap,
    /// ggcr#681).
    fn page_size(&self) -> Result<Option<usize>, OciError> {
        let Some(raw) = self.param("n") else {
            return Ok(None);
        };
        let n: usize = raw.parse().map_err(|_| pagination_invalid(&raw))?;
        if self.profile.max_n.is_some_and(|max| n > max) {
            return Err(pagination_invalid(&raw));
        }
        Ok(Some(n))
    }

    /// `GET /v2/_catalog` (docs/registries.md#generic-distribution): sorted, `n`/`last`, relative
    /// `Link`.
    fn catalog(&self) -> Res {
        let repos: Vec<String> = self.h.with_store(|s| s.repos.keys().cloned().collect());
        let n = self.page_size()?;
        let last = self.param("last");
        let (page, more) = sorted_page(&repos, last.as_deref(), n);
        let mut headers = Vec::new();
        if more && let (Some(n), Some(l)) = (n, page.last()) {
            headers.push((
                "link",
                format!("</v2/_catalog?last={l}&n={n}>; rel=\"next\""),
            ));
        }
        Ok(json_response(
            &json!({ "repositories": page }),
            "application/json",
            &headers,
        ))
    }

    /// `GET /v2/<n>/tags/list` (spec "Listing Tags"; paging variants in
    /// docs/registries.md#tag-listing).
    fn tags_list(&self, repo: &str) -> Res {
        let Some(all) = self.h.with_store(|s| {
            s.repo(repo)
                .map(|r| r.tags.keys().cloned().collect::<Vec<_>>())
        }) else {
            return Err(OciError::name_unknown(repo));
        };
        let mut headers = Vec::new();
        let tags: Vec<String> = match &self.profile.tag_paging {
            TagPaging::All => {
                // Storage order is not lexical on distribution 2.8 [V]; a
                // stable hash order catches clients that assume sorting.
                if let Some(raw) = self.param("n")
                    && self
                        .profile
                        .max_n
                        .is_some_and(|max| raw.parse::<usize>().map_or(true, |n| n > max))
                {
                    return Err(pagination_invalid(&raw));
                }
                let mut t = all.clone();
                t.sort_by_key(|t| super::store::sha256_digest(t.as_bytes()));
                t
            }
            TagPaging::Sorted { default_n } => {
                let n = self.page_size()?.or(*default_n);
                let last = self.param("last");
                let (page, more) = sorted_page(&all, last.as_deref(), n);
                if more && let (Some(n), Some(l)) = (n, page.last()) {
                    headers.push((
                        "link",
                        format!("</v2/{repo}/tags/list?last={l}&n={n}>; rel=\"next\""),
                    ));
                }
                page
            }
            TagPaging::PushOrder { default_n } => {
                let n = self.page_size()?.or(*default_n);
                let ordered = self.h.with_store(|s| {
                    let r = s.repo(repo).expect("repository checked above");
                    let mut t: Vec<(SystemTime, String)> = r
                        .tags
                        .iter()
                        .map(|(t, d)| {
                            let at = r.manifests.get(d).map_or(UNIX_EPOCH, |m| m.pushed);
                            (at, t.clone())
                        })
                        .collect();
                    t.sort();
                    t.into_iter().map(|(_, t)| t).collect::<Vec<_>>()
                });
                let start = match self.param("last") {
                    Some(l) => ordered.iter().position(|t| *t == l).map_or(0, |i| i + 1),
                    None => 0,
                };
                let rest = &ordered[start.min(ordered.len())..];
                let take = n.unwrap_or(rest.len()).min(rest.len());
                let page = rest[..take].to_vec();
                if take < rest.len()
                    && let (Some(n), Some(l)) = (n, page.last())
                {
                    headers.push((
                        "link",
                        format!("</v2/{repo}/tags/list?last={l}&n={n}>; rel=\"next\""),
                    ));
                }
                page
            }
            TagPaging::FixedPage { size } => {
                // Quay: `n` and `last` ignored; the next page is named by an
                // opaque token (docs/registries.md#tag-listing [I]).
                let offset = match self.param("next_page") {
                    None => 0,
                    Some(tok) => *self
                        .h
                        .0
                        .page_tokens
                        .lock()
                        .unwrap()
                        .get(&tok)
                        .ok_or_else(|| pagination_invalid(&tok))?,
                };
                let page: Vec<String> = all.iter().skip(offset).take(*size).cloned().collect();
                if offset + page.len() < all.len() {
                    let tok = super::auth::random_hex()[..24].to_string();
                    self.h
                        .0
                        .page_tokens
                        .lock()
                        .unwrap()
                        .insert(tok.clone(), offset + page.len());
                    headers.push((
                        "link",
                        format!("</v2/{repo}/tags/list?n={size}&next_page={tok}>; rel=\"next\""),
                    ));
                }
                page
            }
        };
        // `tags: null` when the repository has no tag at all (docs/registries.md#tag-listing).
        let tags_value = if all.is_empty() {
            Value::Null
        } else {
            json!(tags)
        };
        let mut body = json!({ "name": repo, "tags": tags_value });
        if let Some(hook) = &self.profile.hooks.tags_list {
            self.h.with_store(|s| hook(s, repo, &mut body));
        }
        Ok(json_response(&body, "application/json", &headers))
    }

    /// `GET`/`HEAD /v2/<n>/manifests/<ref>` with Accept negotiation
    /// (docs/registries.md#manifests-and-accept).
    fn get_manifest(&self, repo: &str, reference: &str) -> Res {
        if looks_like_digest(reference) && !is_digest(reference) {
            return Err(OciError::digest_invalid(format!(
                "invalid digest {reference:?}"
            )));
        }
        let by_digest = is_digest(reference);
        let accept = accepted_types(self.headers);
        let (digest, m) = self
            .h
            .with_store(|s| {
                let r = s.repo(repo)?;
                let d = r.resolve(reference)?;
                let m = r.manifests.get(&d)?.clone();
                Some((d, m))
            })
            .ok_or_else(|| OciError::manifest_unknown(reference))?;
        let (digest, m) = if !self.profile.strict_accept || accept.contains(&m.media_type) {
            (digest, m)
        } else {
            match m.media_type.as_str() {
                // distribution 2.8: "OCI manifest found, but accept header
                // does not support OCI manifests" → 404 [V]
                // (docs/registries.md#manifests-and-accept).
                OCI_MANIFEST | OCI_INDEX => {
                    return Err(OciError::new(
                        404,
                        "MANIFEST_UNKNOWN",
                        "OCI manifest found, but accept header does not support OCI manifests",
                        Value::Null,
                    ));
                }
                // By digest, the stored bytes are served whatever the Accept;
                // by tag, 2.8 down-converts to schema 1, which failed with
                // 400 MANIFEST_INVALID here [V] (docs/registries.md#manifests-and-accept).
                DOCKER_MANIFEST if !by_digest => {
                    return Err(OciError::new(
                        400,
                        "MANIFEST_INVALID",
                        "manifest invalid",
                        json!(
                            "schema 2 manifest requested without schema 2 in Accept; schema 1 conversion unavailable"
                        ),
                    ));
                }
                // By tag, distribution answers a client that does not know
                // manifest lists with the linux/amd64 image.
                DOCKER_MANIFEST_LIST if !by_digest => {
                    let child = m.json()["manifests"].as_array().and_then(|a| {
                        a.iter()
                            .find(|c| {
                                c["platform"]["os"] == "linux"
                                    && c["platform"]["architecture"] == "amd64"
                            })
                            .and_then(|c| c["digest"].as_str().map(String::from))
                    });
                    let child = child
                        .and_then(|d| {
                            self.h.with_store(|s| {
                                s.repo(repo)?.manifests.get(&d).cloned().map(|m| (d, m))
                            })
                        })
                        .ok_or_else(|| OciError::manifest_unknown(reference))?;
                    if !accept.contains(&child.1.media_type) {
                        return Err(OciError::new(
                            400,
                            "MANIFEST_INVALID",
                            "manifest invalid",
                            json!("no acceptable manifest type"),
                        ));
                    }
                    child
                }
                _ => (digest, m),
            }
        };
        let etag = format!("\"{digest}\"");
        let headers = [
            ("content-type", m.media_type.clone()),
            ("docker-content-digest", digest.clone()),
            ("content-length", m.bytes.len().to_string()),
            ("etag", etag.clone()),
        ];
        if self
            .headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
        {
            return Ok(with_headers(
                StatusCode::NOT_MODIFIED.into_response(),
                &headers[1..2],
            ));
        }
        // HEAD: same headers, no body (docs/registries.md#manifests-and-accept; hyper drops HEAD
        // bodies but the explicit Content-Length keeps the real size).
        let body = if *self.method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(m.bytes.clone())
        };
        Ok(with_headers(
            (StatusCode::OK, body).into_response(),
            &headers,
        ))
    }

    /// `PUT /v2/<n>/manifests/<ref>` (spec "Pushing Manifests"; docs/registries.md#manifest-put).
    fn put_manifest(&self, repo: &str, reference: &str) -> Res {
        if self.body.len() > self.profile.max_manifest_bytes {
            return Err(OciError::new(
                413,
                "SIZE_INVALID",
                "manifest too large",
                json!({ "size": self.body.len(), "limit": self.profile.max_manifest_bytes }),
            ));
        }
        if looks_like_digest(reference) && !is_digest(reference) {
            return Err(OciError::digest_invalid(format!(
                "invalid digest {reference:?}"
            )));
        }
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let digest = super::store::sha256_digest(&self.body);
        let tag = (!is_digest(reference)).then_some(reference);
        let subject = {
            let mut store = self.h.0.store.lock().unwrap();
            if let Some(check) = &self.profile.hooks.check_manifest_put {
                check(&store, repo, &digest, tag)?;
            }
            store.put_manifest(repo, reference, &content_type, &self.body)?;
            if let Some(hook) = &self.profile.hooks.on_manifest_put {
                hook(&mut store, repo, &digest, tag);
            }
            store
                .repo(repo)
                .and_then(|r| r.manifests.get(&digest))
                .and_then(|m| m.subject.clone())
        };
        let mut headers = vec![
            (
                "location",
                self.loc(format!("/v2/{repo}/manifests/{digest}")),
            ),
            ("docker-content-digest", digest),
        ];
        // A registry with the referrers API says so with OCI-Subject
        // (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests-with-subject);
        // without it the client must maintain the fallback tag.
        if self.profile.referrers
            && let Some(s) = subject
        {
            headers.push(("oci-subject", s));
        }
        Ok(empty(201, &headers))
    }

    /// `DELETE /v2/<n>/manifests/<tag|digest>` (docs/registries.md#deleting-manifests).
    fn delete_manifest(&self, repo: &str, reference: &str) -> Res {
        let mut store = self.h.0.store.lock().unwrap();
        if looks_like_digest(reference) {
            if !is_digest(reference) {
                // `sha256:zz` → 400 [V] (docs/registries.md#real-servers-in-the-tests).
                return Err(OciError::digest_invalid(format!(
                    "invalid digest {reference:?}"
                )));
            }
            if self.profile.digest_delete == DigestDelete::Unsupported {
                return Err(OciError::unsupported());
            }
            let r = store
                .repo(repo)
                .filter(|r| r.manifests.contains_key(reference))
                .ok_or_else(|| OciError::manifest_unknown(reference))?;
            if let DigestDelete::RefuseWhileTagged(refusal) = &self.profile.digest_delete {
                let tags = r.tags_of(reference);
                if !tags.is_empty() {
                    return Err(refusal.to_error(json!({ "tags": tags })));
                }
            }
            if let Some(refusal) = &self.profile.refuse_delete_of_child {
                let parents = r.parents_of(reference);
                if !parents.is_empty() {
                    return Err(refusal.to_error(json!({ "parents": parents })));
                }
            }
            if let Some(check) = &self.profile.hooks.check_delete {
                check(&store, repo, reference)?;
            }
            let removed = store
                .remove_manifest(repo, reference)
                .expect("manifest checked above");
            if let Some(hook) = &self.profile.hooks.on_manifest_delete {
                hook(&mut store, repo, reference, &removed);
            }
            return Ok(empty(202, &[]));
        }
        match &self.profile.tag_delete {
            TagDelete::Untag => {}
            TagDelete::DigestInvalid => {
                // distribution 2.8 parses the reference as a digest [V].
                return Err(OciError::digest_invalid(format!(
                    "invalid digest {reference:?}: tag deletion is not supported"
                )));
            }
            TagDelete::Unsupported => return Err(OciError::unsupported()),
            TagDelete::NotFound => return Ok(page_not_found()),
        }
        let digest = store
            .repo(repo)
            .and_then(|r| r.tags.get(reference).cloned())
            .ok_or_else(|| OciError::manifest_unknown(reference))?;
        if let Some(check) = &self.profile.hooks.check_delete {
            check(&store, repo, reference)?;
        }
        store.repo_mut(repo).tags.remove(reference);
        if let Some(hook) = &self.profile.hooks.on_tag_delete {
            hook(&mut store, repo, reference, &digest);
        }
        Ok(empty(202, &[]))
    }

    /// `GET`/`HEAD /v2/<n>/blobs/<digest>`
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#checking-if-content-exists-in-the-registry).
    fn get_blob(&self, repo: &str, digest: &str) -> Res {
        if !is_digest(digest) {
            return Err(OciError::digest_invalid(format!(
                "invalid digest {digest:?}"
            )));
        }
        let data = self
            .h
            .with_store(|s| s.blob(repo, digest))
            .ok_or_else(|| OciError::blob_unknown(digest))?;
        // Object storage behind a redirect (docs/registries.md#rate-limits-and-redirects): another
        // host and port, the presigned query is the credential.
        if self.profile.redirect_blobs && *self.method == Method::GET {
            let port = self
                .h
                .0
                .storage_port
                .expect("redirect_blobs must be set when the fake starts");
            let sig = super::auth::random_hex();
            self.h
                .0
                .signatures
                .lock()
                .unwrap()
                .insert(sig.clone(), digest.to_string());
            return Ok(empty(
                307,
                &[(
                    "location",
                    format!("http://localhost:{port}/blob-data/{digest}?sig={sig}"),
                )],
            ));
        }
        let headers = [
            ("content-type", "application/octet-stream".to_string()),
            ("docker-content-digest", digest.to_string()),
            ("content-length", data.len().to_string()),
            ("etag", format!("\"{digest}\"")),
        ];
        let body = if *self.method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(data.as_ref().clone())
        };
        Ok(with_headers(
            (StatusCode::OK, body).into_response(),
            &headers,
        ))
    }

    /// `DELETE /v2/<n>/blobs/<digest>` → 202; the bytes stay for other repositories
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#deleting-blobs).
    fn delete_blob(&self, repo: &str, digest: &str) -> Res {
        if !is_digest(digest) {
            return Err(OciError::digest_invalid(format!(
                "invalid digest {digest:?}"
            )));
        }
        if self.profile.digest_delete == DigestDelete::Unsupported {
            return Err(OciError::unsupported());
        }
        let removed = self.h.with_store(|s| {
            s.repos
                .get_mut(repo)
                .is_some_and(|r| r.blobs.remove(digest))
        });
        if !removed {
            return Err(OciError::blob_unknown(digest));
        }
        Ok(empty(202, &[]))
    }

    /// `POST /v2/<n>/blobs/uploads/` (spec "Pushing blobs"; docs/registries.md#blobs-and-uploads):
    /// mount, single POST, or a new session.
    fn start_upload(&self, repo: &str) -> Res {
        if let Some(mount) = self.param("mount") {
            if !is_digest(&mount) {
                return Err(OciError::digest_invalid(format!(
                    "invalid digest {mount:?}"
                )));
            }
            if let Some(r) = &self.profile.mount_refusal {
                return Err(r.to_error(json!({ "mount": mount })));
            }
            let from = self.param("from");
            let source = match (&from, &self.profile.mount_without_from) {
                (Some(f), _) if self.profile.mount && is_repo_name(f) => {
                    // The caller must be allowed to pull the source; a token
                    // lacking it just does not mount (docs/registries.md#token-caching).
                    self.caller.permits(f, "pull").then(|| f.clone())
                }
                (Some(_), _) => None,
                (None, MountWithoutFrom::Session) => None,
                (None, MountWithoutFrom::Refuse(r)) => {
                    return Err(r.to_error(json!({ "mount": mount })));
                }
                (None, MountWithoutFrom::Search) => self.h.with_store(|s| {
                    s.repos
                        .iter()
                        .find(|(name, r)| {
                            r.blobs.contains(&mount) && self.caller.permits(name, "pull")
                        })
                        .map(|(name, _)| name.clone())
                }),
            };
            let mounted = source.is_some_and(|src| {
                self.h.with_store(|s| {
                    if s.blob(&src, &mount).is_some() {
                        s.repo_mut(repo).blobs.insert(mount.clone());
                        true
                    } else {
                        false
                    }
                })
            });
            if mounted {
                return Ok(empty(
                    201,
                    &[
                        ("location", self.loc(format!("/v2/{repo}/blobs/{mount}"))),
                        ("docker-content-digest", mount),
                    ],
                ));
            }
            // Not mountable: an ordinary session (202), as 2.8 does [V].
            return Ok(self.new_session(repo));
        }
        if let Some(digest) = self.param("digest")
            && self.profile.single_post_upload
        {
            return self.finish(repo, &digest, self.body.to_vec());
        }
        Ok(self.new_session(repo))
    }

    /// A `Location` value for `path`: relative, or absolute when the
    /// profile says so.
    fn loc(&self, path: String) -> String {
        if self.profile.absolute_locations {
            format!("{}{path}", self.h.url())
        } else {
            path
        }
    }

    fn session_headers(&self, repo: &str, id: &str, u: &Upload) -> Vec<(&'static str, String)> {
        // distribution: `Range: 0-<last byte>`, 0-0 when empty
        // (docs/registries.md#blobs-and-uploads).
        let end = u.data.len().saturating_sub(1);
        vec![
            (
                "location",
                self.loc(format!("/v2/{repo}/blobs/uploads/{id}?_state={}", u.state)),
            ),
            ("range", format!("0-{end}")),
            ("docker-upload-uuid", id.to_string()),
        ]
    }

    fn new_session(&self, repo: &str) -> Response {
        let id = uuid_like();
        let upload = Upload {
            repo: repo.to_string(),
            data: Vec::new(),
            state: super::auth::random_hex(),
        };
        let mut headers = self.session_headers(repo, &id, &upload);
        if let Some(min) = self.profile.chunk_min_length {
            headers.push(("oci-chunk-min-length", min.to_string()));
        }
        // The repository only comes into being with its first blob or
        // manifest, not with an abandoned session.
        self.h.with_store(|s| s.uploads.insert(id, upload));
        empty(202, &headers)
    }

    /// Verifies `data` against `digest` and stores it (201), or 400
    /// `DIGEST_INVALID` (spec "Pushing blobs"; docs/registries.md#blobs-and-uploads).
    fn finish(&self, repo: &str, digest: &str, data: Vec<u8>) -> Res {
        if !is_digest(digest) {
            return Err(OciError::digest_invalid(format!(
                "invalid digest {digest:?}"
            )));
        }
        let actual = digest_as(digest, &data).expect("supported algorithm");
        if actual != digest {
            return Err(OciError::digest_invalid(format!(
                "content digest {actual} does not match {digest}"
            )));
        }
        self.h.with_store(|s| {
            s.blobs
                .entry(digest.to_string())
                .or_insert_with(|| std::sync::Arc::new(data));
            s.repo_mut(repo).blobs.insert(digest.to_string());
        });
        Ok(empty(
            201,
            &[
                ("location", self.loc(format!("/v2/{repo}/blobs/{digest}"))),
                ("docker-content-digest", digest.to_string()),
            ],
        ))
    }

    /// `GET`/`PATCH`/`PUT`/`DELETE <Location>` of an upload session
    /// (spec "Pushing a blob in chunks"; docs/registries.md#blobs-and-uploads).
    fn upload(&self, repo: &str, id: &str) -> Res {
        let mut store = self.h.0.store.lock().unwrap();
        let Some(u) = store.uploads.get(id).filter(|u| u.repo == repo).cloned() else {
            return Err(OciError::blob_upload_unknown());
        };
        // Every request must carry the `_state` of the latest Location; an
        // older one resumes at a stale offset (distribution refuses it).
        if self.param("_state").as_deref() != Some(u.state.as_str()) {
            return Err(OciError::blob_upload_invalid(
                "missing or stale _state: use the Location of the latest response",
            ));
        }
        match *self.method {
            Method::GET => Ok(empty(204, &self.session_headers(repo, id, &u))),
            Method::DELETE => {
                store.uploads.remove(id);
                Ok(empty(204, &[]))
            }
            Method::PATCH => {
                let mut u = u;
                self.check_range(&u)?;
                u.data.extend_from_slice(&self.body);
                u.state = super::auth::random_hex();
                let headers = self.session_headers(repo, id, &u);
                store.uploads.insert(id.to_string(), u);
                Ok(empty(202, &headers))
            }
            Method::PUT => {
                let Some(digest) = self.param("digest") else {
                    return Err(OciError::digest_invalid("digest parameter missing"));
                };
                let mut u = u;
                if !self.body.is_empty() {
                    self.check_range(&u)?;
                }
                u.data.extend_from_slice(&self.body);
                // The session ends here either way; a mismatch means the
                // client starts over.
                store.uploads.remove(id);
                drop(store);
                self.finish(repo, &digest, u.data)
            }
            _ => Err(OciError::unsupported()),
        }
    }

    /// `Content-Range: <start>-<end>` must continue exactly where the
    /// session stands and match the body length; otherwise 416 with the
    /// current `Range` (spec "Pushing a blob in chunks"; docs/registries.md#blobs-and-uploads).
    fn check_range(&self, u: &Upload) -> Result<(), OciError> {
        let Some(raw) = self.headers.get(header::CONTENT_RANGE) else {
            return Ok(()); // streamed: no Content-Range (docs/registries.md#blobs-and-uploads)
        };
        let have = u.data.len();
        let refuse = |why: &str| {
            OciError::new(
                416,
                "BLOB_UPLOAD_INVALID",
                "requested range not satisfiable",
                json!(why),
            )
            .with_header("Range", format!("0-{}", have.saturating_sub(1)))
        };
        let raw = raw
            .to_str()
            .map_err(|_| refuse("unreadable Content-Range"))?;
        let (start, end) = raw
            .split_once('-')
            .and_then(|(s, e)| Some((s.parse::<usize>().ok()?, e.parse::<usize>().ok()?)))
            .ok_or_else(|| refuse("Content-Range must be <start>-<end>"))?;
        if start != have {
            return Err(refuse(&format!(
                "chunk starts at {start}, upload has {have} bytes"
            )));
        }
        if end < start || end - start + 1 != self.body.len() {
            return Err(refuse(&format!(
                "Content-Range {raw} does not match a body of {} bytes",
                self.body.len()
            )));
        }
        Ok(())
    }

    /// `GET /v2/<n>/referrers/<digest>` (spec "Listing Referrers"; docs/registries.md#referrers).
    fn referrers(&self, repo: &str, digest: &str) -> Res {
        if !self.profile.referrers {
            return Ok(page_not_found());
        }
        if !is_digest(digest) {
            return Err(OciError::digest_invalid(format!(
                "invalid digest {digest:?}"
            )));
        }
        let filter = self.param("artifactType");
        let manifests: Vec<Value> = self.h.with_store(|s| {
            let Some(r) = s.repo(repo) else {
                return Vec::new();
            };
            r.manifests
                .iter()
                .filter(|(_, m)| m.subject.as_deref() == Some(digest))
                .filter(|(_, m)| {
                    filter
                        .as_ref()
                        .is_none_or(|f| m.effective_artifact_type().as_deref() == Some(f))
                })
                .map(|(d, m)| {
                    let mut desc = json!({
                        "mediaType": m.media_type,
                        "digest": d,
                        "size": m.bytes.len(),
                    });
                    if let Some(t) = m.effective_artifact_type() {
                        desc["artifactType"] = json!(t);
                    }
                    if !m.annotations.is_empty() {
                        desc["annotations"] = json!(m.annotations);
                    }
                    desc
                })
                .collect()
        });
        let mut headers = Vec::new();
        if filter.is_some() {
            headers.push(("oci-filters-applied", "artifactType".to_string()));
        }
        Ok(json_response(
            &json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests }),
            OCI_INDEX,
            &headers,
        ))
    }
}

/// Sorted page after `last` (exclusive) of at most `n`; whether more remain.
fn sorted_page(all: &[String], last: Option<&str>, n: Option<usize>) -> (Vec<String>, bool) {
    let mut sorted: Vec<String> = all.to_vec();
    sorted.sort();
    let rest: Vec<String> = sorted
        .into_iter()
        .filter(|t| last.is_none_or(|l| t.as_str() > l))
        .collect();
    match n {
        None => (rest, false),
        Some(n) => {
            let more = rest.len() > n;
            (rest.into_iter().take(n).collect(), more)
        }
    }
}

/// Media types listed in the `Accept` header(s), parameters dropped; one
/// comma-separated header and repeated headers both count
/// (docs/registries.md#manifests-and-accept [V]).
fn accepted_types(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// A random UUID-shaped session id.
fn uuid_like() -> String {
    let h = super::auth::random_hex();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
