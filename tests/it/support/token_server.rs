//! A Docker token server (https://distribution.github.io/distribution/spec/auth/jwt;
//! docs/registries.md#authentication steps 4 and 5) that the real `docker-registry` trusts.
//!
//! Tokens are JWTs signed ES256 by a P-256 key whose self-signed certificate is
//! carried in the `x5c` header and handed to the registry as its
//! `rootcertbundle`. A token grants the intersection of the requested and the
//! configured actions, so a test can provoke `insufficient_scope`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::bg::BackgroundServer;
use super::ports::bind_loopback;
use super::util::{rfc3339, unix_now};

/// Default `service` (the registry's `auth.token.service`, the token's `aud`).
pub const DEFAULT_SERVICE: &str = "dockhand-test-registry";
/// Default `issuer` (the token's `iss`).
pub const DEFAULT_ISSUER: &str = "dockhand-test-token-server";

/// Actions granted on resources matching a pattern.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Resource type of the scope: `repository` (default) or `registry`.
    pub resource_type: String,
    /// `*` for every name, `prefix*` for names starting with `prefix`
    /// (e.g. `team/*`), otherwise the exact name.
    pub repository: String,
    /// e.g. `["pull", "push", "delete"]`; `*` grants every requested action.
    pub actions: Vec<String>,
}

impl Grant {
    /// Grant `actions` on repositories matching `repository`.
    pub fn new(repository: &str, actions: &[&str]) -> Self {
        Grant {
            resource_type: "repository".into(),
            repository: repository.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// `pull`, `push` and `delete` on every repository.
    pub fn all() -> Self {
        Grant::new("*", &["pull", "push", "delete"])
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Self {
        Grant {
            resource_type: "registry".into(),
            repository: "catalog".into(),
            actions: vec!["*".into()],
        }
    }

    fn matches(&self, resource_type: &str, name: &str) -> bool {
        if self.resource_type != resource_type {
            return false;
        }
        match self.repository.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.repository == name,
        }
    }
}

/// A user of the token server.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub password: String,
    pub grants: Vec<Grant>,
}

impl User {
    pub fn new(name: &str, password: &str, grants: Vec<Grant>) -> Self {
        User {
            name: name.into(),
            password: password.into(),
            grants,
        }
    }
}

/// One `access` entry of a token (`{type, name, actions}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    /// Parses `type[(class)]:name:action[,action…]`; the name may contain `:`.
    pub fn parse_scope(scope: &str) -> Option<Access> {
        let first = scope.find(':')?;
        let last = scope.rfind(':')?;
        if first == last {
            return None;
        }
        let mut resource_type = &scope[..first];
        if let Some(i) = resource_type.find('(') {
            resource_type = &resource_type[..i];
        }
        Some(Access {
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
}

/// Options for [`TokenServer::start_with`].
#[derive(Clone, Debug)]
pub struct TokenServerOptions {
    pub users: Vec<User>,
    /// Granted to requests without `Authorization`.
    pub anonymous_grants: Vec<Grant>,
    pub service: String,
    pub issuer: String,
    /// `expires_in` of issued tokens, seconds (also the JWT lifetime).
    pub expires_in: u64,
    /// Answer the OAuth2 `POST` variant; when false, `POST` gives 404 (which
    /// tells a client to use `GET`).
    pub oauth2_post: bool,
}

impl Default for TokenServerOptions {
    fn default() -> Self {
        TokenServerOptions {
            users: Vec::new(),
            anonymous_grants: Vec::new(),
            service: DEFAULT_SERVICE.into(),
            issuer: DEFAULT_ISSUER.into(),
            expires_in: 300,
            oauth2_post: true,
        }
    }
}

/// One request the token server received.
#[derive(Clone, Debug)]
#[expect(
    dead_code,
    reason = "some fields are only read through Debug, in the messages of failed assertions"
)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The user name sent (Basic or form), valid or not; `None` for anonymous.
    pub user: Option<String>,
    /// The requested scopes in order, each as sent (`repository:a:pull,push`).
    pub scopes: Vec<String>,
    pub service: Option<String>,
    /// `grant_type` of a POST.
    pub grant_type: Option<String>,
    /// Status answered (200, 401, 404 or an injected failure).
    pub status: u16,
    /// The access granted in the token (empty when refused).
    pub granted: Vec<Access>,
}

struct State_ {
    opts: TokenServerOptions,
    key: EncodingKey,
    cert_b64: String,
    requests: Mutex<Vec<TokenRequest>>,
    counter: AtomicU64,
    refresh_tokens: Mutex<HashMap<String, String>>,
}

/// A token server on 127.0.0.1; stops on drop.
pub struct TokenServer {
    state: Arc<State_>,
    cert_pem: String,
    server: BackgroundServer,
}

impl TokenServer {
    /// Starts a token server with the default service, issuer and lifetime.
    pub fn start(users: Vec<User>, anonymous_grants: Vec<Grant>) -> TokenServer {
        TokenServer::start_with(TokenServerOptions {
            users,
            anonymous_grants,
            ..TokenServerOptions::default()
        })
    }

    pub fn start_with(opts: TokenServerOptions) -> TokenServer {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("generate P-256 key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("cert params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dockhand test token signer");
        let cert = params.self_signed(&key_pair).expect("self-signed cert");
        let key = EncodingKey::from_ec_pem(key_pair.serialize_pem().as_bytes())
            .expect("ES256 encoding key");
        let state = Arc::new(State_ {
            opts,
            key,
            cert_b64: STANDARD.encode(cert.der().as_ref()),
            requests: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            refresh_tokens: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/token", get(get_token).post(post_token))
            .with_state(state.clone());
        let server =
            BackgroundServer::spawn("token-server", bind_loopback(), move |l| async move {
                let _ = axum::serve(l, app).await;
            });
        TokenServer {
            state,
            cert_pem: cert.pem(),
            server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The realm: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("{}/token", self.url())
    }

    pub fn service(&self) -> &str {
        &self.state.opts.service
    }

    pub fn issuer(&self) -> &str {
        &self.state.opts.issuer
    }

    /// PEM of the signing certificate (the registry's `rootcertbundle`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Number of requests answered with a token.
    pub fn tokens_issued(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 200).count()
    }

    /// Forget recorded requests (e.g. after seeding).
    pub fn clear_requests(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// Mints a token for `subject` granting exactly `scopes`
    /// (`repository:a:pull`), valid for `ttl_secs` from now (negative for an
    /// already expired token). Nothing is recorded.
    pub fn mint_token(&self, subject: &str, scopes: &[&str], ttl_secs: i64) -> String {
        let access = scopes
            .iter()
            .filter_map(|s| Access::parse_scope(s))
            .collect();
        self.state.sign(subject, access, ttl_secs)
    }
}

impl State_ {
    fn sign(&self, subject: &str, access: Vec<Access>, ttl_secs: i64) -> String {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            exp: i64,
            nbf: i64,
            iat: i64,
            jti: String,
            access: Vec<Access>,
        }
        let now = unix_now() as i64;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let claims = Claims {
            iss: &self.opts.issuer,
            sub: subject,
            aud: &self.opts.service,
            exp: now + ttl_secs,
            nbf: now.min(now + ttl_secs) - 1,
            iat: now,
            jti: format!("{now}-{n}-{}", std::process::id()),
            access,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![self.cert_b64.clone()]);
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign JWT")
    }

    fn grants_for(&self, user: Option<&str>) -> Vec<Grant> {
        match user {
            None => self.opts.anonymous_grants.clone(),
            Some(name) => self
                .opts
                .users
                .iter()
                .find(|u| u.name == name)
                .map(|u| u.grants.clone())
                .unwrap_or_default(),
        }
    }

    fn check_password(&self, user: &str, password: &str) -> bool {
        self.opts
            .users
            .iter()
            .any(|u| u.name == user && u.password == password)
    }

    /// The intersection of what is requested and what is granted.
    fn resolve(&self, user: Option<&str>, scopes: &[String]) -> Vec<Access> {
        let grants = self.grants_for(user);
        let mut out: Vec<Access> = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some(req) = Access::parse_scope(scope) else {
                continue;
            };
            let mut actions: Vec<String> = Vec::new();
            for g in grants
                .iter()
                .filter(|g| g.matches(&req.resource_type, &req.name))
            {
                for a in &req.actions {
                    let ok = g.actions.iter().any(|ga| ga == "*" || ga == a);
                    if ok && !actions.contains(a) {
                        actions.push(a.clone());
                    }
                }
            }
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
                None => out.push(Access {
                    resource_type: req.resource_type,
                    name: req.name,
                    actions,
                }),
            }
        }
        out
    }

    fn record(&self, r: TokenRequest) {
        self.requests.lock().unwrap().push(r);
    }
}

fn query_pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (
                header::WWW_AUTHENTICATE,
                "Basic realm=\"dockhand-test-token\"",
            ),
            (header::CONTENT_TYPE, "application/json"),
        ],
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
    )
        .into_response()
}

fn token_reply(
    state: &State_,
    subject: &str,
    access: Vec<Access>,
    refresh: Option<String>,
) -> Response {
    let token = state.sign(subject, access, state.opts.expires_in as i64);
    let mut body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": state.opts.expires_in,
        "issued_at": rfc3339(unix_now()),
    });
    if let Some(r) = refresh {
        body["refresh_token"] = serde_json::Value::String(r);
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn get_token(
    State(state): State<Arc<State_>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = query_pairs(raw.as_deref().unwrap_or(""));
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let service = pairs
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let creds = basic_credentials(&headers);
    let has_auth_header = headers.contains_key(header::AUTHORIZATION);
    let mut rec = TokenRequest {
        method: Method::GET.to_string(),
        user: creds.as_ref().map(|c| c.0.clone()),
        scopes: scopes.clone(),
        service,
        grant_type: None,
        status: 200,
        granted: Vec::new(),
    };
    let user = match &creds {
        Some((u, p)) if state.check_password(u, p) => Some(u.as_str()),
        None if !has_auth_header => None,
        _ => {
            rec.status = 401;
            state.record(rec);
            return unauthorized();
        }
    };
    let access = state.resolve(user, &scopes);
    rec.granted = access.clone();
    state.record(rec);
    let refresh = match (
        user,
        pairs
            .iter()
            .any(|(k, v)| k == "offline_token" && v == "true"),
    ) {
        (Some(u), true) => Some(new_refresh_token(&state, u)),
        _ => None,
    };
    token_reply(&state, user.unwrap_or(""), access, refresh)
}

fn new_refresh_token(state: &State_, user: &str) -> String {
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    let token = format!("refresh-{n}-{}", unix_now());
    state
        .refresh_tokens
        .lock()
        .unwrap()
        .insert(token.clone(), user.to_string());
    token
}

async fn post_token(State(state): State<Arc<State_>>, body: String) -> Response {
    let pairs = query_pairs(&body);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(String::from).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let grant_type = get("grant_type");
    let mut rec = TokenRequest {
        method: Method::POST.to_string(),
        user: get("username"),
        scopes: scopes.clone(),
        service: get("service"),
        grant_type: grant_type.clone(),
        status: 200,
        granted: Vec::new(),
    };
    if !state.opts.oauth2_post {
        rec.status = 404;
        state.record(rec);
        return StatusCode::NOT_FOUND.into_response();
    }
    let user = match grant_type.as_deref() {
        Some("password") => {
            let (u, p) = (
                get("username").unwrap_or_default(),
                get("password").unwrap_or_default(),
            );
            state.check_password(&u, &p).then_some(u)
        }
        Some("refresh_token") => {
            let t = get("refresh_token").unwrap_or_default();
            let user = state.refresh_tokens.lock().unwrap().get(&t).cloned();
            if user.is_some() {
                rec.user = user.clone();
            }
            user
        }
        _ => None,
    };
    let Some(user) = user else {
        rec.status = 401;
        state.record(rec);
        return unauthorized();
    };
    let access = state.resolve(Some(&user), &scopes);
    rec.granted = access.clone();
    state.record(rec);
    let refresh = (get("access_type").as_deref() == Some("offline")
        || grant_type.as_deref() == Some("refresh_token"))
    .then(|| new_refresh_token(&state, &user));
    token_reply(&state, &user, access, refresh)
}
