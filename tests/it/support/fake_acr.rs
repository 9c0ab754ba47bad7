//! An Azure Container Registry fake on top of the in-memory OCI fake
//! (docs/registries.md#azure-container-registry for the API, #test-fakes for what it reproduces):
//! - the login server's token endpoints with form bodies: `POST /oauth2/exchange` (Azure AD
//!   token → ACR refresh token) and `/oauth2/token` (refresh or password grant as a form POST, or
//!   GET with the admin user's Basic), every form recorded for assertions;
//! - an Azure AD token endpoint at `/aad/<tenant>/oauth2/v2.0/token` (client-credentials grant),
//!   reached by pointing `AZURE_AUTHORITY_HOST` at `<fake>/aad`;
//! - the admin user's Basic straight on `/v2` and `/acr/v1`; a user name of the empty GUID is no
//!   user (that marks a token, which the az CLI sends as Bearer): refused as Basic everywhere;
//! - `/acr/v1/<repo>/_tags` with literal `/` in names (routed on the `_tags` suffix), `n`
//!   ignored with a small fixed page size and a relative `Link`, `orderby`, 7 fractional digits;
//! - untag `DELETE /acr/v1/<repo>/_tags/<tag>` → 202; locked tags (`deleteEnabled` or
//!   `writeEnabled` false) refuse untag and the manifest delete with 405
//!   `REGISTRY_DISALLOWED_OPERATION` (Azure/acr-cli#70, #134);
//! - `GET /acr/v1/<repo>/_manifests`: every manifest (index children too) by digest, paged like
//!   `_tags` (`last` = a digest), `tags` left out on an untagged manifest, `mediaType`, times and
//!   `changeableAttributes` (`deleteEnabled: false` on a locked manifest, which refuses its
//!   delete with 405 as above);
//! - a classic-SKU mode answering 405 on `/acr/v1`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine;
use serde_json::{Value, json};

use super::fake_oci::{
    Auth, BearerAuth, Credentials, FakeHandle, FakeOci, Grants, Need, OciError, Profile, Store,
    is_digest, resolve_scopes,
};

pub const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";
pub const AAD_SCOPE: &str = "https://containerregistry.azure.net/.default";
pub const ADMIN_USER: &str = "acrfake";
pub const ADMIN_PASSWORD: &str = "admin-password-Xq7";

/// Everything ACR can grant: the data-plane actions plus `metadata_read`/`metadata_write`.
pub fn all_actions() -> Grants {
    Grants::none().allow(
        "*",
        &["pull", "push", "delete", "metadata_read", "metadata_write"],
    )
}

/// What AcrPush gives: no `delete`.
pub fn push_only() -> Grants {
    Grants::none().allow("*", &["pull", "push", "metadata_read"])
}

/// One recorded form POST.
#[derive(Clone, Debug)]
pub struct Form {
    pub path: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

struct Principal {
    client_id: String,
    secret: String,
    tenant: String,
    grants: Grants,
}

/// Vendor records, kept in the store's extension slot (one lock for everything).
#[derive(Default)]
pub struct AcrState {
    principals: Vec<Principal>,
    /// Azure AD token → (client id, tenant).
    aad_tokens: HashMap<String, (String, String)>,
    /// ACR refresh token → (subject, grants).
    refresh: HashMap<String, (String, Grants)>,
    /// (repository, tag) → (deleteEnabled, writeEnabled).
    locks: HashMap<(String, String), (bool, bool)>,
    /// (repository, digest) of manifests locked themselves (`_manifests` attributes, which
    /// `_tags` does not show).
    manifest_locks: std::collections::HashSet<(String, String)>,
    classic: bool,
    page_size: usize,
    forms: Vec<Form>,
}

fn state(s: &mut Store) -> &mut AcrState {
    let st = s.ext_mut::<AcrState>();
    if st.page_size == 0 {
        st.page_size = 2;
    }
    st
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn random(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let s = RandomState::new();
    format!("{prefix}-{:016x}{:08x}", s.hash_one((n, "acr")), n)
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn acr_error(status: u16, code: &str, message: &str) -> Response {
    OciError::new(status, code, message, Value::Null).into_response()
}

/// AAD errors are `{error, error_description}` (OAuth2).
fn aad_error(status: u16, error: &str, description: &str) -> Response {
    (
        axum::http::StatusCode::from_u16(status).expect("status"),
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The admin user (docs/registries.md#azure-container-registry: the user name is the registry
/// name; plain Basic). The
/// empty GUID is never a user.
fn admin_check(c: &Credentials) -> Option<Grants> {
    match c {
        Credentials::Basic { user, password }
            if user == ADMIN_USER && password == ADMIN_PASSWORD =>
        {
            // The admin user may do everything, listing the catalog included
            // (learn.microsoft.com/azure/container-registry/container-registry-authentication).
            Some(all_actions().with_catalog())
        }
        _ => None,
    }
}

/// Seven fractional digits, as ACR writes them (`2024-05-01T12:00:21.0856539Z`).
pub fn acr_time(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_nanos(t).to_string();
    let body = s.trim_end_matches('Z');
    format!("{}Z", &body[..body.len() - 2])
}

pub struct FakeAcr {
    oci: FakeOci,
}

impl Deref for FakeAcr {
    type Target = FakeOci;
    fn deref(&self) -> &FakeOci {
        &self.oci
    }
}

impl FakeAcr {
    /// A registry with the admin user enabled, the referrers API, and `_tags` pages of 2.
    pub fn start() -> FakeAcr {
        let mut profile = Profile::oci_1_1();
        profile.name = "acr".into();
        profile.auth = Auth::Bearer(BearerAuth {
            realm: "/oauth2/token".into(),
            service: None,
            check: Arc::new(admin_check),
            // The admin user's Basic goes straight to /v2
            // (docs/registries.md#azure-container-registry).
            accept_basic: true,
            expires_in: Some(300),
            ..BearerAuth::default()
        });
        profile.hooks.check_delete =
            Some(Arc::new(|store: &Store, repo: &str, reference: &str| {
                let Some(st) = store.ext::<AcrState>() else {
                    return Ok(());
                };
                let tags: Vec<String> = if is_digest(reference) {
                    store
                        .repo(repo)
                        .map(|r| r.tags_of(reference))
                        .unwrap_or_default()
                } else {
                    vec![reference.to_string()]
                };
                if tags.iter().any(|t| locked(st, repo, t))
                    || st
                        .manifest_locks
                        .contains(&(repo.to_string(), reference.to_string()))
                {
                    return Err(disallowed());
                }
                Ok(())
            }));
        let oci = FakeOci::start_with(profile, |h| {
            Router::new()
                .route("/aad/{tenant}/oauth2/v2.0/token", post(aad_token))
                .route("/oauth2/exchange", post(exchange))
                .route("/oauth2/token", any(token))
                .route("/acr/v1/{*rest}", any(acr_v1))
                .with_state(h)
        });
        let host = oci.host();
        // The challenge names the login server as the service
        // (docs/registries.md#azure-container-registry).
        oci.update_profile(|p| {
            if let Auth::Bearer(b) = &mut p.auth {
                b.service = Some(host.clone());
            }
        });
        oci.with_store(|s| {
            state(s);
        });
        FakeAcr { oci }
    }

    /// `AZURE_AUTHORITY_HOST` for the fake Azure AD.
    pub fn authority(&self) -> String {
        format!("{}/aad", self.url())
    }

    pub fn add_principal(&self, client_id: &str, secret: &str, tenant: &str, grants: Grants) {
        self.with_store(|s| {
            state(s).principals.push(Principal {
                client_id: client_id.into(),
                secret: secret.into(),
                tenant: tenant.into(),
                grants,
            })
        });
    }

    /// An Azure AD token of a principal (as if from OIDC), for `--azure-access-token`.
    pub fn aad_token_for(&self, client_id: &str) -> String {
        self.with_store(|s| {
            let st = state(s);
            let tenant = st
                .principals
                .iter()
                .find(|p| p.client_id == client_id)
                .map(|p| p.tenant.clone())
                .expect("known principal");
            let t = random("aad");
            st.aad_tokens.insert(t.clone(), (client_id.into(), tenant));
            t
        })
    }

    /// An ACR refresh token with `grants` (what `az acr login --expose-token` prints).
    pub fn refresh_token(&self, grants: Grants) -> String {
        self.with_store(|s| {
            let t = random("acr-refresh");
            state(s)
                .refresh
                .insert(t.clone(), ("expose-token-user".into(), grants));
            t
        })
    }

    pub fn lock_tag(&self, repo: &str, tag: &str, delete_enabled: bool, write_enabled: bool) {
        self.with_store(|s| {
            state(s)
                .locks
                .insert((repo.into(), tag.into()), (delete_enabled, write_enabled))
        });
    }

    /// Locks a manifest itself (`az acr repository update --image repo@digest --delete-enabled false`).
    pub fn lock_manifest(&self, repo: &str, digest: &str) {
        self.with_store(|s| state(s).manifest_locks.insert((repo.into(), digest.into())));
    }

    pub fn set_classic(&self, classic: bool) {
        self.with_store(|s| state(s).classic = classic);
    }

    pub fn set_page_size(&self, n: usize) {
        self.with_store(|s| state(s).page_size = n.max(1));
    }

    /// Recorded form POSTs to `path` (e.g. `/oauth2/exchange`).
    pub fn forms(&self, path: &str) -> Vec<Form> {
        self.with_store(|s| {
            state(s)
                .forms
                .iter()
                .filter(|f| f.path == path)
                .cloned()
                .collect()
        })
    }
}

fn locked(st: &AcrState, repo: &str, tag: &str) -> bool {
    st.locks
        .get(&(repo.to_string(), tag.to_string()))
        .is_some_and(|(d, w)| !d || !w)
}

/// Azure/acr-cli#70: what a lock answers.
fn disallowed() -> OciError {
    OciError::new(
        405,
        "REGISTRY_DISALLOWED_OPERATION",
        "The operation is disallowed on this registry, repository or image.",
        Value::Null,
    )
}

fn record(h: &FakeHandle, path: &str, fields: &[(String, String)]) {
    h.with_store(|s| {
        state(s).forms.push(Form {
            path: path.into(),
            fields: fields.to_vec(),
        })
    });
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Azure AD v2.0 token endpoint, client-credentials grant.
async fn aad_token(
    State(h): State<FakeHandle>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form_pairs(&body);
    record(&h, "/aad/oauth2/v2.0/token", &f);
    if !is_form(&headers) {
        return aad_error(400, "invalid_request", "AADSTS900144: form body expected");
    }
    let get = |k: &str| f.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("client_credentials") {
        return aad_error(400, "unsupported_grant_type", "AADSTS70003");
    }
    if get("scope").as_deref() != Some(AAD_SCOPE) {
        return aad_error(
            400,
            "invalid_scope",
            "AADSTS70011: The provided value for scope is not valid.",
        );
    }
    let (id, secret) = (
        get("client_id").unwrap_or_default(),
        get("client_secret").unwrap_or_default(),
    );
    h.with_store(|s| {
        let st = state(s);
        let ok = st
            .principals
            .iter()
            .any(|p| p.client_id == id && p.tenant == tenant && p.secret == secret);
        if !ok {
            return aad_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
        }
        let t = random("aad");
        st.aad_tokens.insert(t.clone(), (id.clone(), tenant.clone()));
        axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": t}))
            .into_response()
    })
}

/// `POST /oauth2/exchange`: Azure AD access token → ACR refresh token
/// (https://azure.github.io/acr/AAD-OAuth.html).
async fn exchange(State(h): State<FakeHandle>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form_pairs(&body);
    record(&h, "/oauth2/exchange", &f);
    if !is_form(&headers) {
        return acr_error(400, "UNSUPPORTED", "form body expected");
    }
    let get = |k: &str| f.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("access_token") {
        return acr_error(400, "UNSUPPORTED", "grant_type must be access_token");
    }
    if get("service") != Some(h.host()) {
        return acr_error(400, "UNSUPPORTED", "unknown service");
    }
    let aad = get("access_token").unwrap_or_default();
    h.with_store(|s| {
        let st = state(s);
        let Some((client, tenant)) = st.aad_tokens.get(&aad).cloned() else {
            return acr_error(401, "UNAUTHORIZED", "invalid Azure AD token");
        };
        if let Some(t) = get("tenant")
            && t != tenant
        {
            return acr_error(401, "UNAUTHORIZED", "the token is of another tenant");
        }
        let grants = st
            .principals
            .iter()
            .find(|p| p.client_id == client)
            .map(|p| p.grants.clone())
            .unwrap_or_default();
        let r = random("acr-refresh");
        st.refresh.insert(r.clone(), (client, grants));
        axum::Json(json!({"refresh_token": r})).into_response()
    })
}

/// `/oauth2/token`: a form POST with the refresh-token or password grant, or GET with the admin
/// user's Basic; grants the intersection of the scopes asked and the identity's grants.
async fn token(
    State(h): State<FakeHandle>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (identity, params) = if method == Method::POST {
        let f = form_pairs(&body);
        record(&h, "/oauth2/token", &f);
        if !is_form(&headers) {
            return acr_error(400, "UNSUPPORTED", "form body expected");
        }
        let get = |k: &str| f.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        let identity = match get("grant_type").as_deref() {
            Some("refresh_token") => {
                let r = get("refresh_token").unwrap_or_default();
                h.with_store(|s| state(s).refresh.get(&r).cloned())
            }
            Some("password") => admin_check(&Credentials::Basic {
                user: get("username").unwrap_or_default(),
                password: get("password").unwrap_or_default(),
            })
            .map(|g| (ADMIN_USER.to_string(), g)),
            _ => return acr_error(400, "UNSUPPORTED", "unknown grant_type"),
        };
        (identity, f)
    } else if method == Method::GET {
        let identity = basic(&headers).and_then(|(user, password)| {
            admin_check(&Credentials::Basic { user, password }).map(|g| (ADMIN_USER.to_string(), g))
        });
        (identity, form_pairs(query.unwrap_or_default().as_bytes()))
    } else {
        return acr_error(405, "UNSUPPORTED", "method not allowed");
    };
    let get = |k: &str| params.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    if get("service") != Some(h.host()) {
        return acr_error(400, "UNSUPPORTED", "unknown service");
    }
    let Some((_, grants)) = identity else {
        return acr_error(401, "UNAUTHORIZED", "authentication required");
    };
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let access = resolve_scopes(&grants, &scopes);
    let t = h.issue_token(access, Duration::from_secs(300));
    axum::Json(json!({"access_token": t})).into_response()
}

/// `/acr/v1/<repo>/_tags[/<tag>]`, names with literal `/`, routed on the suffix.
async fn acr_v1(
    State(h): State<FakeHandle>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if h.with_store(|s| state(s).classic) {
        // docs/registries.md#azure-container-registry: the classic SKU has no /acr/v1.
        return acr_error(405, "UNSUPPORTED", "The operation is unsupported.");
    }
    let (repo, after) = if let Some(repo) = rest.strip_suffix("/_manifests") {
        (repo, "manifests")
    } else if let Some(i) = rest.rfind("/_tags") {
        (&rest[..i], &rest[i + "/_tags".len()..])
    } else {
        return acr_error(404, "NOT_FOUND", "no such route");
    };
    let action = match method {
        Method::GET => "metadata_read",
        Method::DELETE => "delete",
        _ => return acr_error(405, "UNSUPPORTED", "method not allowed"),
    };
    let profile = h.profile();
    let need = Need::Repo {
        name: repo.to_string(),
        actions: vec![action],
    };
    if let Err(resp) = h.authorize(&profile.auth, &headers, &need) {
        return *resp;
    }
    let params = form_pairs(query.unwrap_or_default().as_bytes());
    let get = |k: &str| params.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    match (method, after) {
        (Method::GET, "") => list_tags(&h, repo, get("orderby"), get("last")),
        (Method::GET, "manifests") => list_manifests(&h, repo, get("last")),
        (Method::DELETE, t) if t.len() > 1 => {
            let tag = &t[1..];
            h.with_store(|s| {
                let is_locked = locked(state(s), repo, tag);
                let Some(r) = s.repos.get_mut(repo) else {
                    return acr_error(404, "NAME_UNKNOWN", "repository name not known to registry");
                };
                if !r.tags.contains_key(tag) {
                    return acr_error(404, "TAG_UNKNOWN", "the specified tag does not exist");
                }
                if is_locked {
                    return disallowed().into_response();
                }
                r.tags.remove(tag);
                axum::http::StatusCode::ACCEPTED.into_response()
            })
        }
        _ => acr_error(404, "NOT_FOUND", "no such route"),
    }
}

fn list_tags(
    h: &FakeHandle,
    repo: &str,
    orderby: Option<String>,
    last: Option<String>,
) -> Response {
    let host = h.host();
    h.with_store(|s| {
        let page_size = state(s).page_size;
        let Some(r) = s.repo(repo) else {
            return acr_error(404, "NAME_UNKNOWN", "repository name not known to registry");
        };
        let mut tags: Vec<(String, String, SystemTime)> = r
            .tags
            .iter()
            .map(|(t, d)| {
                let pushed = r.manifests.get(d).map(|m| m.pushed).unwrap_or(SystemTime::UNIX_EPOCH);
                (t.clone(), d.clone(), pushed)
            })
            .collect();
        match orderby.as_deref() {
            Some("timedesc") => tags.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0))),
            Some("timeasc") => tags.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0))),
            _ => {}
        }
        let start = match &last {
            Some(l) => tags.iter().position(|t| &t.0 == l).map_or(tags.len(), |i| i + 1),
            None => 0,
        };
        let locks: BTreeMap<String, (bool, bool)> = s
            .ext::<AcrState>()
            .map(|st| {
                st.locks
                    .iter()
                    .filter(|((r, _), _)| r == repo)
                    .map(|((_, t), v)| (t.clone(), *v))
                    .collect()
            })
            .unwrap_or_default();
        let page: Vec<&(String, String, SystemTime)> = tags.iter().skip(start).take(page_size).collect();
        let items: Vec<Value> = page
            .iter()
            .map(|(t, d, pushed)| {
                let (del, write) = locks.get(t).copied().unwrap_or((true, true));
                json!({
                    "name": t, "digest": d,
                    "createdTime": acr_time(*pushed), "lastUpdateTime": acr_time(*pushed),
                    "signed": false,
                    "changeableAttributes": {"deleteEnabled": del, "writeEnabled": write, "readEnabled": true, "listEnabled": true},
                })
            })
            .collect();
        let mut resp = axum::Json(json!({"registry": host, "imageName": repo, "tags": items})).into_response();
        if start + page.len() < tags.len()
            && let Some(l) = page.last()
        {
            // `n` is ignored; the Link is relative and keeps `orderby`
            // (docs/registries.md#azure-container-registry).
            let mut link = format!("</acr/v1/{repo}/_tags?last={}&n={page_size}", l.0);
            if let Some(o) = &orderby {
                link.push_str(&format!("&orderby={o}"));
            }
            link.push_str(">; rel=\"next\"");
            resp.headers_mut()
                .insert(header::LINK, link.parse().expect("link header"));
        }
        resp
    })
}

/// `GET /acr/v1/<repo>/_manifests`, in digest order (no `orderby`), pages of the `_tags` size.
fn list_manifests(h: &FakeHandle, repo: &str, last: Option<String>) -> Response {
    let host = h.host();
    h.with_store(|s| {
        let page_size = state(s).page_size;
        let Some(r) = s.repo(repo) else {
            return acr_error(404, "NAME_UNKNOWN", "repository name not known to registry");
        };
        let locked: Vec<String> = s
            .ext::<AcrState>()
            .map(|st| {
                st.manifest_locks
                    .iter()
                    .filter(|(r, _)| r == repo)
                    .map(|(_, d)| d.clone())
                    .collect()
            })
            .unwrap_or_default();
        let digests: Vec<&String> = r.manifests.keys().collect();
        let start = match &last {
            Some(l) => digests
                .iter()
                .position(|d| *d == l)
                .map_or(digests.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<&String> = digests
            .iter()
            .skip(start)
            .take(page_size)
            .copied()
            .collect();
        let items: Vec<Value> = page
            .iter()
            .map(|d| {
                let m = &r.manifests[*d];
                let mut item = json!({
                    "digest": d,
                    "imageSize": m.bytes.len(),
                    "createdTime": acr_time(m.pushed),
                    "lastUpdateTime": acr_time(m.pushed),
                    "mediaType": m.media_type,
                    "changeableAttributes": {
                        "deleteEnabled": !locked.contains(d),
                        "writeEnabled": true, "readEnabled": true, "listEnabled": true,
                    },
                });
                let tags = r.tags_of(d);
                // Untagged manifests come without `tags`.
                if !tags.is_empty() {
                    item["tags"] = json!(tags);
                }
                item
            })
            .collect();
        let mut resp = axum::Json(json!({"registry": host, "imageName": repo, "manifests": items}))
            .into_response();
        if start + page.len() < digests.len()
            && let Some(l) = page.last()
        {
            let link = format!("</acr/v1/{repo}/_manifests?last={l}&n={page_size}>; rel=\"next\"");
            resp.headers_mut()
                .insert(header::LINK, link.parse().expect("link header"));
        }
        resp
    })
}
