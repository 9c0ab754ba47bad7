//! Authentication and authorization of `/v2/` requests, and the token
//! endpoint (docs/registries.md#authentication, #token-caching).
//!
//! Tokens are opaque random strings mapped server-side to what they grant,
//! so a client cannot read its grants from the token and must follow the
//! challenges, exactly the contract of the token spec (a registry token is
//! opaque to clients).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::FakeHandle;
use super::error::OciError;
use super::profile::{Auth, BearerAuth, Credentials, Grants, TokenFields};

/// One `access` entry of a token (`{type, name, actions}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeAccess {
    pub resource_type: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl ScopeAccess {
    /// Parses `type[(class)]:name:action[,action…]`; the name may contain
    /// `:`, so split at the first and the last colon (docs/registries.md#authentication).
    pub fn parse(scope: &str) -> Option<ScopeAccess> {
        let first = scope.find(':')?;
        let last = scope.rfind(':')?;
        if first == last {
            return None;
        }
        let mut resource_type = &scope[..first];
        if let Some(i) = resource_type.find('(') {
            resource_type = &resource_type[..i];
        }
        Some(ScopeAccess {
            resource_type: resource_type.to_string(),
            name: scope[first + 1..last].to_string(),
            actions: scope[last + 1..]
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    pub fn allows(&self, resource_type: &str, name: &str, action: &str) -> bool {
        self.resource_type == resource_type
            && self.name == name
            && self.actions.iter().any(|a| a == "*" || a == action)
    }
}

/// What a token grants, server-side.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub access: Vec<ScopeAccess>,
    pub expires: Instant,
}

/// Who is calling, once authenticated.
#[derive(Clone, Debug)]
pub enum Caller {
    /// No auth configured.
    Open,
    /// Basic credentials (or anonymous) with their grants.
    Grants(Grants),
    /// A Bearer token.
    Token(TokenInfo),
}

impl Caller {
    pub fn permits(&self, repo: &str, action: &str) -> bool {
        match self {
            Caller::Open => true,
            Caller::Grants(g) => g.permits(repo, action),
            Caller::Token(t) => t
                .access
                .iter()
                .any(|a| a.allows("repository", repo, action)),
        }
    }

    fn permits_catalog(&self) -> bool {
        match self {
            Caller::Open => true,
            Caller::Grants(g) => g.catalog,
            Caller::Token(t) => t
                .access
                .iter()
                .any(|a| a.allows("registry", "catalog", "*")),
        }
    }
}

/// What a request needs (distribution's actions per method, docs/registries.md#authentication).
#[derive(Clone, Debug)]
pub enum Need {
    /// `GET /v2/`: any valid credentials.
    Ping,
    /// `registry:catalog:*`.
    Catalog,
    /// Actions on a repository.
    Repo {
        name: String,
        actions: Vec<&'static str>,
    },
}

impl Need {
    /// The actions a method needs: GET/HEAD `pull`; POST/PUT/PATCH
    /// `pull,push`; DELETE `delete`.
    pub fn for_method(repo: &str, method: &Method) -> Need {
        let actions = match *method {
            Method::GET | Method::HEAD => vec!["pull"],
            Method::DELETE => vec!["delete"],
            _ => vec!["pull", "push"],
        };
        Need::Repo {
            name: repo.to_string(),
            actions,
        }
    }

    fn scope(&self) -> Option<String> {
        match self {
            Need::Ping => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repo { name, actions } => {
                Some(format!("repository:{name}:{}", actions.join(",")))
            }
        }
    }

    fn satisfied_by(&self, caller: &Caller) -> bool {
        match self {
            Need::Ping => true,
            Need::Catalog => caller.permits_catalog(),
            Need::Repo { name, actions } => actions.iter().all(|a| caller.permits(name, a)),
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 32 random bytes as hex (random keys of `RandomState`, hashed counter).
pub fn random_hex() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (0..4)
        .map(|i| {
            let s = RandomState::new();
            format!("{:016x}", s.hash_one((n, i, std::process::id())))
        })
        .collect()
}

fn basic_credentials(headers: &HeaderMap) -> Option<Result<Credentials, ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let parsed = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|d| {
            d.split_once(':').map(|(u, p)| Credentials::Basic {
                user: u.to_string(),
                password: p.to_string(),
            })
        });
    Some(parsed.ok_or(()))
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_string())
}

fn unauthorized(challenge: String, message: &str) -> Box<Response> {
    Box::new(
        OciError::new(401, "UNAUTHORIZED", message, Value::Null)
            .with_header("WWW-Authenticate", challenge)
            .into_response(),
    )
}

impl FakeHandle {
    /// The realm as an absolute URL.
    pub fn realm_url(&self, cfg: &BearerAuth) -> String {
        if cfg.realm.starts_with('/') {
            format!("{}{}", self.url(), cfg.realm)
        } else {
            cfg.realm.clone()
        }
    }

    fn bearer_challenge(&self, cfg: &BearerAuth, need: &Need, error: Option<&str>) -> String {
        let mut c = format!("{} realm=\"{}\"", cfg.scheme, self.realm_url(cfg));
        if let Some(s) = &cfg.service {
            c.push_str(&format!(",service=\"{s}\""));
        }
        if let Some(scope) = need.scope() {
            c.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(e) = error {
            c.push_str(&format!(",error=\"{e}\""));
        }
        c
    }

    /// Authenticates and authorizes a request needing `need`; Err is the
    /// response to send (401 with a challenge, or 403), boxed because it is large.
    pub fn authorize(
        &self,
        auth: &Auth,
        headers: &HeaderMap,
        need: &Need,
    ) -> Result<Caller, Box<Response>> {
        match auth {
            Auth::None => Ok(Caller::Open),
            Auth::Basic { realm, check } => {
                let challenge = format!("Basic realm=\"{realm}\"");
                self.authorize_basic(check.as_ref(), headers, need, &challenge)
            }
            Auth::Bearer(cfg) => {
                if cfg.accept_basic && basic_credentials(headers).is_some() {
                    let challenge = self.bearer_challenge(cfg, need, None);
                    return self.authorize_basic(cfg.check.as_ref(), headers, need, &challenge);
                }
                let Some(token) = bearer_token(headers) else {
                    // No (usable) credentials: challenge naming the scope;
                    // distribution leaves the scope out on /v2/
                    // (docs/registries.md#authentication step 3).
                    return Err(unauthorized(
                        self.bearer_challenge(cfg, need, None),
                        "authentication required",
                    ));
                };
                let info = self.0.tokens.lock().unwrap().get(&token).cloned();
                let Some(info) = info.filter(|i| i.expires > Instant::now()) else {
                    return Err(unauthorized(
                        self.bearer_challenge(cfg, need, Some("invalid_token")),
                        "invalid or expired token",
                    ));
                };
                let caller = Caller::Token(info);
                if need.satisfied_by(&caller) {
                    Ok(caller)
                } else {
                    // 401 insufficient_scope naming the needed scope [V]
                    // (docs/registries.md#authentication).
                    Err(unauthorized(
                        self.bearer_challenge(cfg, need, Some("insufficient_scope")),
                        "insufficient scope",
                    ))
                }
            }
        }
    }

    fn authorize_basic(
        &self,
        check: &(dyn Fn(&Credentials) -> Option<Grants> + Send + Sync),
        headers: &HeaderMap,
        need: &Need,
        challenge: &str,
    ) -> Result<Caller, Box<Response>> {
        let creds = match basic_credentials(headers) {
            None if headers.contains_key(header::AUTHORIZATION) => {
                return Err(unauthorized(challenge.into(), "unsupported authorization"));
            }
            None => Credentials::Anonymous,
            Some(Ok(c)) => c,
            Some(Err(())) => {
                return Err(unauthorized(
                    challenge.into(),
                    "malformed Basic credentials",
                ));
            }
        };
        let anonymous = creds == Credentials::Anonymous;
        let Some(grants) = check(&creds) else {
            return Err(unauthorized(challenge.into(), "authentication required"));
        };
        let caller = Caller::Grants(grants);
        if need.satisfied_by(&caller) {
            Ok(caller)
        } else if anonymous {
            Err(unauthorized(challenge.into(), "authentication required"))
        } else {
            Err(Box::new(
                OciError::denied("requested access to the resource is denied").into_response(),
            ))
        }
    }

    /// Mints a token granting exactly `access`, valid for `ttl`, as the
    /// token endpoint would (for vendor token flows and tests).
    pub fn issue_token(&self, access: Vec<ScopeAccess>, ttl: Duration) -> String {
        let token = random_hex();
        self.0.tokens.lock().unwrap().insert(
            token.clone(),
            TokenInfo {
                access,
                expires: Instant::now() + ttl,
            },
        );
        token
    }

    /// Mints a token for scopes like `repository:a/b:pull,push`.
    pub fn mint_token(&self, scopes: &[&str]) -> String {
        let access = scopes
            .iter()
            .filter_map(|s| ScopeAccess::parse(s))
            .collect();
        self.issue_token(access, Duration::from_secs(3600))
    }

    /// Makes every issued token expired (clients must then refetch).
    pub fn expire_tokens(&self) {
        let past = Instant::now();
        for t in self.0.tokens.lock().unwrap().values_mut() {
            t.expires = past;
        }
    }
}

/// The intersection of the requested scopes and the grants (what a token
/// server does: it never refuses a scope, it grants less).
pub fn resolve_scopes(grants: &Grants, scopes: &[String]) -> Vec<ScopeAccess> {
    let mut out: Vec<ScopeAccess> = Vec::new();
    for scope in scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter(|s| !s.is_empty())
    {
        let Some(req) = ScopeAccess::parse(scope) else {
            continue;
        };
        let actions: Vec<String> = match req.resource_type.as_str() {
            "repository" => req
                .actions
                .iter()
                .filter(|a| grants.permits(&req.name, a))
                .cloned()
                .collect(),
            "registry" if req.name == "catalog" && grants.catalog => req.actions.clone(),
            _ => Vec::new(),
        };
        if actions.is_empty() {
            continue;
        }
        match out
            .iter_mut()
            .find(|e| e.resource_type == req.resource_type && e.name == req.name)
        {
            Some(e) => {
                for a in actions {
                    if !e.actions.contains(&a) {
                        e.actions.push(a);
                    }
                }
            }
            None => out.push(ScopeAccess {
                resource_type: req.resource_type,
                name: req.name,
                actions,
            }),
        }
    }
    out
}

fn pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn token_unauthorized() -> Response {
    OciError::new(401, "UNAUTHORIZED", "authentication required", Value::Null)
        .with_header("WWW-Authenticate", "Basic realm=\"fake-oci-token\"")
        .into_response()
}

/// The token endpoint: `GET <realm>?service=&scope=…` with optional Basic,
/// or the OAuth2 `POST` form (docs/registries.md#authentication steps 4 and 5).
pub fn token_endpoint(
    h: &FakeHandle,
    cfg: &BearerAuth,
    method: &Method,
    headers: &HeaderMap,
    query: &str,
    body: &[u8],
) -> Response {
    let (creds, params) = if *method == Method::GET {
        let creds = match basic_credentials(headers) {
            None if headers.contains_key(header::AUTHORIZATION) => return token_unauthorized(),
            None => Credentials::Anonymous,
            Some(Ok(c)) => c,
            Some(Err(())) => return token_unauthorized(),
        };
        (creds, pairs(query))
    } else if *method == Method::POST {
        if !cfg.oauth2_post {
            return StatusCode::NOT_FOUND.into_response();
        }
        let form = pairs(&String::from_utf8_lossy(body));
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        if get("client_id").is_none() {
            return OciError::new(400, "UNSUPPORTED", "client_id required", Value::Null)
                .into_response();
        }
        let creds = match get("grant_type").as_deref() {
            Some("password") => Credentials::Basic {
                user: get("username").unwrap_or_default(),
                password: get("password").unwrap_or_default(),
            },
            Some("refresh_token") => {
                let t = get("refresh_token").unwrap_or_default();
                match h.0.refresh_tokens.lock().unwrap().get(&t).cloned() {
                    Some(c) => c,
                    None => return token_unauthorized(),
                }
            }
            _ => {
                return OciError::new(400, "UNSUPPORTED", "unknown grant_type", Value::Null)
                    .into_response();
            }
        };
        (creds, form)
    } else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if let (Some(expected), Some(sent)) = (&cfg.service, get("service"))
        && *expected != sent
    {
        return OciError::new(
            400,
            "UNSUPPORTED",
            "unknown service",
            json!({ "service": sent }),
        )
        .into_response();
    }
    let Some(grants) = (cfg.check)(&creds) else {
        return token_unauthorized();
    };
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let access = resolve_scopes(&grants, &scopes);
    let ttl = cfg.expires_in.unwrap_or(60);
    let token = h.issue_token(access, Duration::from_secs(ttl));
    let mut body = serde_json::Map::new();
    if cfg.fields != TokenFields::AccessTokenOnly {
        body.insert("token".into(), Value::String(token.clone()));
    }
    if cfg.fields != TokenFields::TokenOnly {
        body.insert("access_token".into(), Value::String(token));
    }
    if let Some(e) = cfg.expires_in {
        body.insert("expires_in".into(), json!(e));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    body.insert(
        "issued_at".into(),
        Value::String(super::super::util::rfc3339(now)),
    );
    let offline = get("offline_token").as_deref() == Some("true")
        || get("access_type").as_deref() == Some("offline");
    if offline && creds != Credentials::Anonymous {
        let r = random_hex();
        h.0.refresh_tokens
            .lock()
            .unwrap()
            .insert(r.clone(), creds.clone());
        body.insert("refresh_token".into(), Value::String(r));
    }
    (StatusCode::OK, axum::Json(Value::Object(body))).into_response()
}

/// Refresh tokens → the credentials they stand for.
pub type RefreshTokens = HashMap<String, Credentials>;
