//! The one HTTP transport every registry call goes through, OCI data plane and vendor APIs alike.
//!
//! It owns, per host: the scheme (HTTPS, or plain HTTP for insecure hosts that do not speak TLS),
//! a concurrency limit, the last auth challenge; and across hosts: credentials, the token cache,
//! retries with backoff and `Retry-After`, and redirects, which it follows itself so that an
//! `Authorization` header never travels to another scheme, host or port.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

use super::auth::{Challenge, Scope, TokenCache, merge_scopes};
use super::credentials::{Credential, CredentialStore};
use super::retry::{BudgetSpent, RetryBudget, RetryPolicy, parse_retry_after, retryable_status};
use crate::error::{Error, Result};
use crate::registry::transport_error::TransportError;
use crate::secret::{Secret, redact_url};

/// A request body that can be produced again for a retry or a redirect.
#[derive(Clone, Default)]
pub enum Body {
    #[default]
    Empty,
    Bytes(Bytes),
    /// A streamed body (a file, a blob being copied), made anew by the factory for each attempt.
    Stream {
        len: u64,
        make: Arc<dyn Fn() -> reqwest::Body + Send + Sync>,
    },
}

impl Body {
    fn build(&self) -> Option<reqwest::Body> {
        match self {
            Body::Empty => None,
            Body::Bytes(b) => Some(reqwest::Body::from(b.clone())),
            Body::Stream { make, .. } => Some(make()),
        }
    }
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Stream { len, .. } => *len,
        }
    }
}

/// One registry or vendor API request.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
    /// The token scopes this request needs if the server asks for a Bearer token.
    pub scopes: Vec<Scope>,
    /// Replay after a connection failure. True for requests that change nothing or can be
    /// repeated whole; upload steps set it false and let the upload restart instead.
    pub replay_on_connection_error: bool,
    /// Send registry credentials (false for vendor APIs that bring their own header).
    pub registry_auth: bool,
    /// Hand a 429 back as it came instead of retrying it: the caller reads the vendor's own
    /// rate-limit headers (Docker Hub's `X-Retry-After` is a unix time) and waits itself.
    pub own_rate_limits: bool,
}

impl Request {
    pub fn new(method: Method, url: Url) -> Request {
        let replay = matches!(
            method,
            Method::GET | Method::HEAD | Method::DELETE | Method::PUT
        );
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            scopes: Vec::new(),
            replay_on_connection_error: replay,
            registry_auth: true,
            own_rate_limits: false,
        }
    }
    pub fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Request {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
    pub fn scope(mut self, scope: Scope) -> Request {
        self.scopes.push(scope);
        self
    }
    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
}

#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Hosts (`host[:port]`) allowed plain HTTP or an unverified certificate.
    pub insecure_hosts: Vec<String>,
    /// Parallel requests per host.
    pub concurrency: usize,
    /// Largest manifest read into memory, in bytes (`--max-manifest-size`).
    pub max_manifest_size: u64,
    pub retry: RetryPolicy,
    /// Run-wide limits on retries (`--retry-budget`), on top of the per-request `retry`.
    pub budget: RetryBudget,
    pub user_agent: String,
    /// Time to open a connection, TCP and TLS (`--connect-timeout`).
    pub connect_timeout: Duration,
    /// Idle time allowed in one attempt (`--read-timeout`): no byte sent or received for this long
    /// fails it. There is no whole-request bound, so a large upload that keeps moving is never cut.
    pub read_timeout: Duration,
}

/// Default `--connect-timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--read-timeout`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Waits at least this long (a backoff, a `Retry-After`) are announced on stderr.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            insecure_hosts: Vec::new(),
            concurrency: 8,
            max_manifest_size: super::media::DEFAULT_MAX_MANIFEST_SIZE,
            retry: RetryPolicy::default(),
            budget: RetryBudget::default(),
            user_agent: format!("dockhand/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

#[derive(Default)]
struct HostState {
    base: OnceCell<Url>,
    /// The anonymous `GET /v2/` answer seen while choosing the scheme (reused by detection).
    ping: Mutex<Option<(u16, HeaderMap)>>,
    challenge: Mutex<Option<Challenge>>,
}

/// A cheap handle; clones share connections, tokens and limits.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    secure: reqwest::Client,
    insecure: reqwest::Client,
    /// The same without reqwest's read timeout, for streamed uploads: reqwest times the wait for
    /// the answer from the start of the request, which would cut a long upload; `follow` watches
    /// the bytes moving instead.
    secure_upload: reqwest::Client,
    insecure_upload: reqwest::Client,
    /// What this run has spent of `config.budget`.
    spent: BudgetSpent,
    config: TransportConfig,
    credentials: CredentialStore,
    tokens: TokenCache,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// HTTP requests sent, every attempt and redirect hop counted (reported by benchmarks).
    requests: std::sync::atomic::AtomicU64,
}

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 5;

/// Loopback hosts are treated as insecure registries, as Docker does.
pub fn is_loopback(host: &str) -> bool {
    let name = crate::detect::host_name(host);
    name == "localhost" || name == "::1" || name.starts_with("127.")
}

impl Transport {
    pub fn new(config: TransportConfig, credentials: CredentialStore) -> Result<Transport> {
        let build = |insecure: bool, upload: bool| {
            let mut b = reqwest::Client::builder()
                .user_agent(config.user_agent.clone())
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(config.connect_timeout)
                .tls_danger_accept_invalid_certs(insecure);
            if !upload {
                // Resets with every chunk of a response body: a stalled download fails, a slow
                // one that keeps moving does not.
                b = b.read_timeout(config.read_timeout);
            }
            b.build()
                .map_err(|source| Error::from(TransportError::ClientSetup { source }))
        };
        Ok(Transport {
            inner: Arc::new(Inner {
                secure: build(false, false)?,
                insecure: build(true, false)?,
                secure_upload: build(false, true)?,
                insecure_upload: build(true, true)?,
                spent: BudgetSpent::default(),
                config,
                credentials,
                tokens: TokenCache::default(),
                hosts: Mutex::new(HashMap::new()),
                limits: Mutex::new(HashMap::new()),
                requests: Default::default(),
            }),
        })
    }

    /// How many HTTP requests this transport has sent.
    /// Sets the registry credential for `host` (a vendor login obtained at run time wins over
    /// the Docker config). Tokens fetched with an older credential stay keyed to it.
    pub fn set_credential(&self, host: &str, credential: Credential) {
        self.inner.credentials.set(host, credential);
    }

    /// The registry credential for `host`: explicit, else from the Docker config.
    pub async fn credential(&self, host: &str) -> Result<Option<Credential>> {
        self.inner.credentials.lookup(host).await
    }

    /// The largest manifest a reader may hold (see [`TransportConfig::max_manifest_size`]).
    pub fn max_manifest_size(&self) -> u64 {
        self.inner.config.max_manifest_size
    }

    pub fn requests_sent(&self) -> u64 {
        self.inner
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn is_insecure(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        is_loopback(&host)
            || self
                .inner
                .config
                .insecure_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&host))
    }

    fn host_state(&self, host: &str) -> Arc<HostState> {
        let mut hosts = self.inner.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.entry(host.to_ascii_lowercase()).or_default().clone()
    }

    fn limit(&self, host: &str) -> Arc<Semaphore> {
        let mut limits = self.inner.limits.lock().unwrap_or_else(|p| p.into_inner());
        limits
            .entry(host.to_ascii_lowercase())
            .or_insert_with(|| Arc::new(Semaphore::new(self.inner.config.concurrency.max(1))))
            .clone()
    }

    fn client_for(&self, url: &Url, upload: bool) -> &reqwest::Client {
        match (self.is_insecure(&host_port(url)), upload) {
            (true, false) => &self.inner.insecure,
            (false, false) => &self.inner.secure,
            (true, true) => &self.inner.insecure_upload,
            (false, true) => &self.inner.secure_upload,
        }
    }

    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// `https://host/`, or `http://host/` for an insecure host that does not answer TLS.
    /// Decided once per host: a loopback host is asked over plain HTTP first; otherwise `GET /v2/`
    /// goes out over both schemes at once, and plain HTTP wins as soon as it answers like a
    /// registry (200 or 401), so a plain-HTTP registry does not wait for the TLS attempt to fail.
    /// HTTPS wins whenever the TLS handshake succeeds.
    pub async fn base_url(&self, host: &str) -> Result<Url> {
        let state = self.host_state(host);
        let url = state
            .base
            .get_or_try_init(|| async {
                let https = parse_url(&format!("https://{host}/"))?;
                if !self.is_insecure(host) {
                    return Ok::<Url, Error>(https);
                }
                let http = parse_url(&format!("http://{host}/"))?;
                let ping = |base: &Url| {
                    let url = base.join("v2/").expect("static path");
                    self.inner
                        .insecure
                        .get(url)
                        .timeout(self.inner.config.read_timeout)
                        .send()
                };
                // Loopback registries are nearly always plain HTTP (tests, demos, local mirrors):
                // ask that first and skip TLS set-up, which costs tens of milliseconds of CPU.
                let remember = |r: &reqwest::Response| {
                    let seen = (r.status().as_u16(), r.headers().clone());
                    *state.ping.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
                };
                if is_loopback(host) {
                    match ping(&http).await {
                        Ok(r) if matches!(r.status().as_u16(), 200 | 401) => {
                            remember(&r);
                            return Ok(http);
                        }
                        // Nothing listens, or it does not answer: TLS on the same port would
                        // not either, so say so now instead of trying twice more.
                        Err(e) if e.is_connect() || e.is_timeout() => {
                            let url = http.join("v2/").expect("static path");
                            return Err(self.send_error(&Method::GET, &url, e).error);
                        }
                        _ => {}
                    }
                }
                let tls = ping(&https);
                let plain = ping(&http);
                tokio::pin!(tls, plain);
                let (mut tls_done, mut plain_done) = (false, false);
                loop {
                    tokio::select! {
                        r = &mut tls, if !tls_done => {
                            if let Ok(r) = r {
                                remember(&r);
                                return Ok(https);
                            }
                            tls_done = true;
                        }
                        r = &mut plain, if !plain_done => {
                            if let Ok(r) = r
                                && matches!(r.status().as_u16(), 200 | 401)
                            {
                                remember(&r);
                                return Ok(http);
                            }
                            plain_done = true;
                        }
                    }
                    if tls_done && plain_done {
                        // Neither answered like a registry: plain HTTP gives the clearer error next.
                        return Ok(http);
                    }
                }
            })
            .await?;
        Ok(url.clone())
    }

    /// The anonymous `GET /v2/` answer from choosing the scheme, if one was made.
    pub fn cached_ping(&self, host: &str) -> Option<(u16, HeaderMap)> {
        self.host_state(host)
            .ping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends a request: authenticates on challenge, retries, follows redirects. Any HTTP status is
    /// returned as a response (the caller decides what it means), except that a 401 which
    /// survives authentication is returned as it came.
    pub async fn send(&self, req: Request) -> Result<reqwest::Response> {
        let host = host_port(&req.url);
        let state = self.host_state(&host);
        let mut scopes = merge_scopes(req.scopes.clone());
        let mut tried_fresh_token = false;
        let mut used_basic = false;
        for _ in 0..3 {
            let challenge = state
                .challenge
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let auth = match (&challenge, req.registry_auth) {
                (Some(c), true) => self.authorization(&host, c, &scopes).await?,
                _ => None,
            };
            let sent_token = auth.clone();
            let resp = self.execute(&req, auth.as_ref().map(|(h, _)| h)).await?;
            if resp.status() != StatusCode::UNAUTHORIZED || !req.registry_auth {
                return Ok(resp);
            }
            let Some(new) = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse)
            else {
                return Ok(resp);
            };
            match &new {
                Challenge::Bearer {
                    scope,
                    error,
                    realm,
                    service,
                } => {
                    let wanted = merge_scopes(
                        scopes
                            .iter()
                            .cloned()
                            .chain(scope.as_deref().map(Scope::parse_list).unwrap_or_default()),
                    );
                    let key = self.token_key(&host, realm, service.as_deref()).await?;
                    if let Some((_, Some(token))) = &sent_token {
                        // The server refused a token we sent: if it was for the same scopes, a new
                        // one only helps when the old one had gone stale.
                        self.inner.tokens.evict(&key, token);
                        if wanted == scopes
                            && (tried_fresh_token || error.as_deref() == Some("insufficient_scope"))
                        {
                            return Ok(resp);
                        }
                        tried_fresh_token = true;
                    }
                    scopes = wanted;
                }
                Challenge::Basic { .. } => {
                    if used_basic || self.inner.credentials.lookup(&host).await?.is_none() {
                        return Ok(resp);
                    }
                    used_basic = true;
                }
            }
            *state.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(new);
        }
        Err(Error::auth(format!("{host} kept refusing authentication")))
    }

    async fn token_key(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
    ) -> Result<(String, String, String)> {
        let identity = self
            .inner
            .credentials
            .lookup(host)
            .await?
            .map(|c| c.identity())
            .unwrap_or_default();
        Ok((
            realm.to_string(),
            service.unwrap_or(host).to_string(),
            identity,
        ))
    }

    /// The `Authorization` header for a host whose challenge is known, and the token it carries.
    async fn authorization(
        &self,
        host: &str,
        challenge: &Challenge,
        scopes: &[Scope],
    ) -> Result<Option<(HeaderValue, Option<Secret>)>> {
        let credential = self.inner.credentials.lookup(host).await?;
        match challenge {
            Challenge::Basic { .. } => match credential {
                Some(Credential::Basic { username, password }) => {
                    self.check_plain_http(host, "Basic credentials")?;
                    Ok(Some((basic_header(&username, password.expose())?, None)))
                }
                _ => Ok(None),
            },
            Challenge::Bearer { realm, service, .. } => {
                let key = self.token_key(host, realm, service.as_deref()).await?;
                if let Some(token) = self.inner.tokens.get(&key, scopes) {
                    return Ok(Some((bearer_header(&token)?, Some(token))));
                }
                let (token, ttl) = self
                    .fetch_token(host, realm, service.as_deref(), scopes, credential.as_ref())
                    .await?;
                self.inner
                    .tokens
                    .put(key, scopes.to_vec(), token.clone(), ttl);
                Ok(Some((bearer_header(&token)?, Some(token))))
            }
        }
    }

    fn check_plain_http(&self, host: &str, what: &str) -> Result<()> {
        let state = self.host_state(host);
        let plain = state.base.get().is_some_and(|u| u.scheme() == "http");
        if plain && !self.is_insecure(host) {
            return Err(Error::auth(format!(
                "refusing to send {what} to {host} over plain HTTP"
            )));
        }
        Ok(())
    }

    /// `GET realm?service=…&scope=…` (https://distribution.github.io/distribution/spec/auth/jwt;
    /// docs/registries.md#authentication step 4), or the OAuth2 form POST for a refresh token.
    async fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        credential: Option<&Credential>,
    ) -> Result<(Secret, Duration)> {
        let realm_url = parse_url(realm).map_err(|_| {
            Error::operation(format!("{host} named an invalid token realm {realm:?}"))
        })?;
        let mut url = realm_url.clone();
        {
            let mut q = url.query_pairs_mut();
            // Artifact Registry omits `service`; the registry host is what it expects then.
            q.append_pair("service", service.unwrap_or(host));
            for s in scopes {
                q.append_pair("scope", &s.to_string());
            }
        }
        let mut req = Request::new(Method::GET, url.clone());
        req.registry_auth = false;
        if credential.is_some() {
            let realm_host = host_port(&url);
            // Credentials go only to an HTTPS realm (or an insecure/loopback one the user allowed).
            if url.scheme() != "https" && !self.is_insecure(&realm_host) {
                return Err(Error::auth(format!(
                    "{host} asks for credentials at {}, which is not HTTPS",
                    redact_url(&url)
                ))
                .with_hint(format!(
                    "add --insecure-registry {realm_host} if that is intended"
                )));
            }
        }
        match credential {
            Some(Credential::Basic { username, password }) => {
                req.headers
                    .insert(AUTHORIZATION, basic_header(username, password.expose())?);
            }
            Some(Credential::IdentityToken { token }) => {
                req = refresh_token_request(realm_url, service.unwrap_or(host), scopes, token);
            }
            None => {}
        }
        let resp = self.execute(&req, None).await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let who = credential
                .map(|c| format!(" as {:?}", c.identity()))
                .unwrap_or_else(|| " anonymously".into());
            let wanted: Vec<String> = scopes.iter().map(Scope::to_string).collect();
            return Err(Error::auth(format!(
                "{host} refused a token{who} for {} (HTTP {})",
                wanted.join(" "),
                status.as_u16()
            ))
            .with_hint("check the registry username and password (--registry-username/--registry-password or the Docker config)"));
        }
        if !status.is_success() {
            return Err(Error::operation(format!(
                "token request to {} failed with HTTP {}",
                redact_url(&url),
                status.as_u16()
            )));
        }
        let body: super::auth::TokenResponse = resp
            .json()
            .await
            .map_err(|e| Error::operation(format!("token reply of {host} is not JSON: {e}")))?;
        body.into_token()
            .ok_or_else(|| Error::operation(format!("token reply of {host} holds no token")))
    }

    /// One logical request: retries, per-host limit, manual redirects.
    async fn execute(
        &self,
        req: &Request,
        auth: Option<&HeaderValue>,
    ) -> Result<reqwest::Response> {
        let policy = self.inner.config.retry;
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self.follow(req, auth).await;
            let retry_after = match &outcome {
                Ok(resp)
                    if retryable_status(resp.status().as_u16())
                        && !(req.own_rate_limits
                            && resp.status() == StatusCode::TOO_MANY_REQUESTS) =>
                {
                    Some(
                        resp.headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, SystemTime::now())),
                    )
                }
                Ok(_) => return outcome.map_err(|e| e.error),
                Err(ConnError {
                    replayable: true, ..
                }) => Some(None),
                Err(e) => return Err(e.error.clone()),
            };
            let delay = retry_after.and_then(|ra| policy.next_delay(attempt, ra, waited));
            let Some(d) = delay else {
                return outcome.map_err(|e| e.error);
            };
            let host = host_port(&req.url);
            let what = match &outcome {
                Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    format!("{host} rate limit")
                }
                Ok(resp) => format!("{host} (HTTP {})", resp.status().as_u16()),
                Err(_) => format!("{host} (connection failed)"),
            };
            let why = if retry_after.flatten().is_some() {
                "Retry-After".to_string()
            } else {
                format!("attempt {attempt} of {}", policy.max_attempts)
            };
            if let Err(spent) = self.inner.spent.take(&self.inner.config.budget, d) {
                let got = match &outcome {
                    Ok(resp) => format!("HTTP {}", resp.status().as_u16()),
                    Err(e) => e.error.message.clone(),
                };
                return Err(Error::operation(format!(
                    "{} {}: {got}; not retried: {spent}",
                    req.method,
                    redact_url(&req.url)
                ))
                .with_hint(format!(
                    "{what} kept failing; try again later, lower --concurrency, or raise --retry-budget"
                )));
            }
            if d >= ANNOUNCE_WAIT {
                crate::log::info(&format!(
                    "waiting {} s for {what} ({why})",
                    d.as_secs_f64().round()
                ));
            } else {
                crate::log::debug(&format!(
                    "retrying {} {} in {:.1}s ({why})",
                    req.method,
                    redact_url(&req.url),
                    d.as_secs_f64()
                ));
            }
            tokio::time::sleep(d).await;
            waited += d;
        }
    }

    /// Sends once and follows redirects; drops `Authorization` when the origin changes.
    async fn follow(
        &self,
        req: &Request,
        auth: Option<&HeaderValue>,
    ) -> Result<reqwest::Response, ConnError> {
        let origin = req.url.origin();
        let mut url = req.url.clone();
        let mut method = req.method.clone();
        let mut body = req.body.clone();
        for _ in 0..=MAX_REDIRECTS {
            let host = host_port(&url);
            let limit = self.limit(&host);
            let _permit = limit
                .acquire_owned()
                .await
                .map_err(|_| ConnError::fatal("transport closed"))?;
            let upload = matches!(body, Body::Stream { .. });
            let mut builder = self
                .client_for(&url, upload)
                .request(method.clone(), url.clone())
                .headers(req.headers.clone());
            if let (Some(a), true) = (auth, url.origin() == origin) {
                builder = builder.header(AUTHORIZATION, a.clone());
            }
            // Milliseconds since `start` at which bytes last moved (0: the start itself).
            let start = Instant::now();
            let moved = Arc::new(AtomicU64::new(0));
            if let Some(b) = body.build() {
                let b = if upload {
                    watch_body(b, start, moved.clone())
                } else {
                    b
                };
                builder = builder
                    .header(reqwest::header::CONTENT_LENGTH, body.len())
                    .body(b);
            }
            self.inner
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let resp = match self
                .answer(builder.send(), start, &moved, &method, &url)
                .await
            {
                Ok(r) => r,
                Err(Waited::Failed(e)) => {
                    let mut e = self.send_error(&method, &url, e);
                    e.replayable &= req.replay_on_connection_error;
                    return Err(e);
                }
                Err(Waited::Idle) => return Err(self.idle_error(&method, &url)),
            };
            let status = resp.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let Some(next) = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
            else {
                return Ok(resp);
            };
            // A redirect must not downgrade to plain HTTP behind the user's back: blobs (and any
            // presigned credential in the URL) would travel in clear text to a host nobody
            // marked insecure (RFC 9110 §15.4 leaves following redirects to the client).
            let target = host_port(&next);
            if next.scheme() == "http" && !self.is_insecure(&target) {
                return Err(ConnError {
                    replayable: false,
                    error: TransportError::PlainHttpRedirect {
                        host: host.to_string(),
                        method: method.to_string(),
                        url: redact_url(&url),
                        next: redact_url(&next),
                        target,
                    }
                    .into(),
                });
            }
            if status == StatusCode::SEE_OTHER {
                method = Method::GET;
                body = Body::Empty;
            }
            url = next;
        }
        Err(ConnError {
            replayable: false,
            error: TransportError::TooManyRedirects {
                url: redact_url(&req.url),
            }
            .into(),
        })
    }

    /// Waits for the answer (status and headers) to one attempt. Fails it when no byte has moved
    /// for `--read-timeout` (an upload in progress counts as moving), and says on stderr that it is
    /// still waiting every progress interval that passes without a byte.
    async fn answer(
        &self,
        send: impl Future<Output = reqwest::Result<reqwest::Response>>,
        start: Instant,
        moved: &AtomicU64,
        method: &Method,
        url: &Url,
    ) -> Result<reqwest::Response, Waited> {
        let idle_limit = self.inner.config.read_timeout;
        let every = crate::ci::progress::interval();
        let tick = (every.min(idle_limit) / 4)
            .clamp(Duration::from_millis(20), Duration::from_millis(500));
        let mut announce_at = every;
        tokio::pin!(send);
        loop {
            tokio::select! {
                r = &mut send => return r.map_err(Waited::Failed),
                _ = tokio::time::sleep(tick) => {
                    let last = Duration::from_millis(moved.load(Ordering::Relaxed));
                    let idle = start.elapsed().saturating_sub(last);
                    if idle >= idle_limit {
                        return Err(Waited::Idle);
                    }
                    if idle < every {
                        announce_at = every;
                    } else if idle >= announce_at {
                        crate::log::info(&format!(
                            "waiting for {}: no answer to {method} {} for {} s (--read-timeout {})",
                            host_port(url),
                            url.path(),
                            idle.as_secs(),
                            humantime::format_duration(idle_limit)
                        ));
                        announce_at += every;
                    }
                }
            }
        }
    }

    fn idle_error(&self, method: &Method, url: &Url) -> ConnError {
        let host = host_port(url);
        let limit = humantime::format_duration(self.inner.config.read_timeout);
        ConnError {
            // A server that says nothing for this long is not helped by asking again: the run
            // fails within the timeout instead of a multiple of it.
            replayable: false,
            error: TransportError::Idle {
                method: method.to_string(),
                url: redact_url(url),
                host,
                limit: limit.to_string(),
            }
            .into(),
        }
    }

    /// Turns a failed send into a sentence: timeouts name their option, TLS failures say what is
    /// wrong with the certificate and how to fix it (rustls' own names, `UnknownIssuer` and the
    /// like, mean nothing to a user).
    fn send_error(&self, method: &Method, url: &Url, source: reqwest::Error) -> ConnError {
        let host = host_port(url);
        let chain = crate::secret::scrub(&error_chain(&source));
        let cfg = &self.inner.config;
        let attempt = format!("{method} {} failed", redact_url(url));
        if source.is_timeout() {
            if source.is_connect() {
                let limit = humantime::format_duration(cfg.connect_timeout).to_string();
                return ConnError {
                    replayable: false,
                    error: TransportError::ConnectTimeout {
                        attempt,
                        host,
                        limit,
                        source,
                    }
                    .into(),
                };
            }
            return self.idle_error(method, url);
        }
        if let Some((what, verified)) = tls_problem(&chain) {
            return ConnError {
                replayable: false,
                error: TransportError::Tls {
                    attempt,
                    what: what.replace("HOST", &host),
                    host,
                    verified,
                    source,
                }
                .into(),
            };
        }
        ConnError {
            replayable: true,
            error: TransportError::Send {
                attempt,
                chain,
                source,
            }
            .into(),
        }
    }

    /// Waits `delay` before asking `host` again, for a caller that reads a vendor's own
    /// rate-limit headers: the wait counts against the run's retry budget (an error once it is
    /// spent) and is announced on stderr when it is long. `why` ends the line, e.g.
    /// `"X-Retry-After"`.
    pub async fn wait(&self, host: &str, delay: Duration, why: &str) -> Result<()> {
        if let Err(spent) = self.inner.spent.take(&self.inner.config.budget, delay) {
            return Err(TransportError::BudgetSpent {
                host: host.to_string(),
                secs: delay.as_secs_f64().round(),
                why: why.to_string(),
                spent: spent.to_string(),
            }
            .into());
        }
        if delay >= ANNOUNCE_WAIT {
            crate::log::info(&format!(
                "waiting {} s for {host} rate limit ({why})",
                delay.as_secs_f64().round()
            ));
        }
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// One anonymous `GET /v2/` for detection: a single attempt, no retry, bounded by `limit` in
    /// all (choosing the scheme included), so an unreachable host costs one connection and
    /// `limit` at most.
    pub async fn probe_ping(&self, host: &str, limit: Duration) -> Result<(u16, HeaderMap)> {
        let once = async {
            let base = self.base_url(host).await?;
            if let Some(seen) = self.cached_ping(host) {
                return Ok(seen);
            }
            let url = base.join("v2/").map_err(|e| Error::input(e.to_string()))?;
            let mut req = Request::new(Method::GET, url);
            req.registry_auth = false;
            let resp = self.follow(&req, None).await.map_err(|e| e.error)?;
            Ok((resp.status().as_u16(), resp.headers().clone()))
        };
        match tokio::time::timeout(limit, once).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::ProbeTimeout {
                host: host.to_string(),
                limit: humantime::format_duration(limit).to_string(),
            }
            .into()),
        }
    }
}

/// How waiting for an answer ended without one.
enum Waited {
    Failed(reqwest::Error),
    Idle,
}

/// Wraps an upload body so that each chunk handed to the connection marks the attempt as moving.
fn watch_body(body: reqwest::Body, start: Instant, moved: Arc<AtomicU64>) -> reqwest::Body {
    use futures_util::StreamExt;
    let stream = http_body_util::BodyDataStream::new(body).inspect(move |_| {
        moved.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    });
    reqwest::Body::wrap_stream(stream)
}

/// What a TLS failure means, from the error chain, as a sentence with `HOST` in it; the flag
/// says whether it is about verifying the certificate (else the handshake itself failed).
/// The names matched are rustls' `CertificateError` variants and webpki's errors as they print.
fn tls_problem(chain: &str) -> Option<(&'static str, bool)> {
    let c = chain.to_ascii_lowercase().replace([' ', '_'], "");
    let tls = ["certificate", "tls", "handshake", "corruptmessage", "alert"];
    if !tls.iter().any(|w| c.contains(w)) {
        return None;
    }
    let table: &[(&str, &str)] = &[
        (
            "causedasendentity",
            "HOST presents a certificate authority's certificate as its own server certificate, which TLS does not accept",
        ),
        (
            "unknownissuer",
            "the TLS certificate of HOST is not signed by a certificate authority this machine trusts (self-signed, or a private CA)",
        ),
        (
            "expired",
            "the TLS certificate of HOST has expired (or this machine's clock is wrong)",
        ),
        (
            "notvalidyet",
            "the TLS certificate of HOST is not valid yet (or this machine's clock is wrong)",
        ),
        (
            "notvalidforname",
            "the TLS certificate of HOST was issued for another name",
        ),
        ("revoked", "the TLS certificate of HOST has been revoked"),
        (
            "invalidpeercertificate",
            "the TLS certificate of HOST could not be verified",
        ),
    ];
    for (needle, sentence) in table {
        if c.contains(needle) {
            return Some((sentence, true));
        }
    }
    if c.contains("invalidcontenttype")
        || c.contains("corruptmessage")
        || c.contains("handshake")
        || c.contains("alert")
    {
        return Some(("the TLS handshake with HOST failed", false));
    }
    None
}

struct ConnError {
    replayable: bool,
    error: Error,
}

impl ConnError {
    fn fatal(msg: &str) -> ConnError {
        ConnError {
            replayable: false,
            error: Error::operation(msg),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn parse_url(s: &str) -> Result<Url> {
    Url::parse(s).map_err(|e| Error::input(format!("invalid URL {s:?}: {e}")))
}

/// `host[:port]` of a URL, as used for limits, credentials and insecure lists.
pub fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// An OAuth2 refresh token (Docker's `identitytoken`, ACR's exchanged token) is spent at the realm
/// with a form POST (distribution's token spec, "OAuth2 token": `grant_type=refresh_token`),
/// never sent as Basic.
fn refresh_token_request(realm: Url, service: &str, scopes: &[Scope], token: &Secret) -> Request {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token")
        .append_pair("service", service)
        .append_pair("client_id", "dockhand");
    for s in scopes {
        form.append_pair("scope", &s.to_string());
    }
    form.append_pair("refresh_token", token.expose());
    let mut req = Request::new(Method::POST, realm)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Body::Bytes(Bytes::from(form.finish())));
    req.registry_auth = false;
    // Nothing changes on the server: safe to send again after a dropped connection.
    req.replay_on_connection_error = true;
    req
}

fn basic_header(user: &str, pass: &str) -> Result<HeaderValue> {
    basic_value(user, pass)
        .ok_or_else(|| Error::input("credentials hold characters not allowed in a header"))
}

/// `Basic base64(user:pass)`, marked sensitive and registered for scrubbing; `None` when it
/// cannot be a header value (the caller names the credential). Vendor APIs use it too.
pub fn basic_value(user: &str, pass: &str) -> Option<HeaderValue> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    crate::secret::register(&raw);
    let mut v = HeaderValue::from_str(&format!("Basic {raw}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn bearer_header(token: &Secret) -> Result<HeaderValue> {
    bearer_value(token).ok_or_else(|| {
        Error::operation("the registry issued a token with characters not allowed in a header")
    })
}

/// `Bearer TOKEN`, marked sensitive; `None` when it cannot be a header value (the caller names
/// the token). Vendor APIs use it too.
pub fn bearer_value(token: &Secret) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    v.set_sensitive(true);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:8080",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "registry.example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn insecure_is_per_host() {
        let config = TransportConfig {
            insecure_hosts: vec!["reg.example:5000".into()],
            ..Default::default()
        };
        let t = Transport::new(config, CredentialStore::default()).unwrap();
        assert!(t.is_insecure("reg.example:5000"));
        assert!(t.is_insecure("REG.example:5000"));
        assert!(
            !t.is_insecure("reg.example"),
            "another port is another host"
        );
        assert!(!t.is_insecure("other.example:5000"));
        assert!(t.is_insecure("127.0.0.1:8080"), "loopback, as in Docker");
    }

    fn transport(config: TransportConfig) -> Transport {
        Transport::new(
            config,
            crate::registry::credentials::CredentialStore::default(),
        )
        .unwrap()
    }

    /// The texts of the connection-level failures, pinned before they became typed.
    #[test]
    fn connection_failure_texts_are_pinned() {
        let t = transport(TransportConfig {
            read_timeout: Duration::from_secs(3),
            ..Default::default()
        });
        let url = Url::parse("https://r.example:5000/v2/app/tags/list").unwrap();
        let e = t.idle_error(&Method::GET, &url).error;
        assert_eq!(e.kind, Kind::Operation);
        assert_eq!(
            e.to_string(),
            "GET https://r.example:5000/v2/app/tags/list failed: no answer from r.example:5000 \
             for 3s (--read-timeout)\n  hint: check that r.example:5000 is a reachable registry; \
             raise --read-timeout (DOCKHAND_READ_TIMEOUT) if it is just slow"
        );
        let e: Error = TransportError::TooManyRedirects {
            url: redact_url(&url),
        }
        .into();
        assert!(e.layer::<TransportError>().is_some());
        assert_eq!(
            e.to_string(),
            "too many redirects for https://r.example:5000/v2/app/tags/list"
        );
    }

    #[tokio::test]
    async fn a_wait_past_the_budget_is_refused_in_words() {
        let mut config = TransportConfig::default();
        config.budget.max_wait = Duration::from_secs(1);
        let t = transport(config);
        let e = t
            .wait(
                "api.github.com",
                Duration::from_secs(30),
                "x-ratelimit-reset",
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::Operation);
        assert!(
            e.message
                .starts_with("api.github.com asks to wait 30 s (x-ratelimit-reset); not waited: "),
            "{e}"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("try again later, or raise --retry-budget")
        );
    }

    #[tokio::test]
    async fn an_unanswered_probe_names_its_limit() {
        // A listener that never answers: accepted, then nothing.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
        let t = transport(TransportConfig::default());
        let e = t
            .probe_ping(&host, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::Operation);
        assert_eq!(e.to_string(), format!("no answer from {host} within 300ms"));
        drop(listener);
    }

    #[test]
    fn tls_failures_in_words() {
        let cases = [
            (
                "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer",
                "not signed by a certificate authority",
                true,
            ),
            (
                "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
                "certificate authority's certificate",
                true,
            ),
            (
                "invalid peer certificate: certificate expired: verification time 1, but certificate is not valid after 0",
                "has expired",
                true,
            ),
            (
                "invalid peer certificate: certificate not valid for name \"a\"; certificate is only valid for \"b\"",
                "issued for another name",
                true,
            ),
            (
                "invalid peer certificate: NotValidForName",
                "issued for another name",
                true,
            ),
            (
                "received corrupt message of type InvalidContentType",
                "handshake",
                false,
            ),
        ];
        for (chain, want, verified) in cases {
            let (sentence, v) = tls_problem(chain).unwrap_or_else(|| panic!("{chain}"));
            assert!(sentence.contains(want), "{chain}: {sentence}");
            assert_eq!(v, verified, "{chain}");
            assert!(sentence.contains("HOST"), "{sentence}");
        }
        assert_eq!(tls_problem("tcp connect error: Connection refused"), None);
    }

    #[test]
    fn host_port_keeps_ports_and_brackets() {
        assert_eq!(
            host_port(&Url::parse("http://127.0.0.1:5000/v2/").unwrap()),
            "127.0.0.1:5000"
        );
        assert_eq!(
            host_port(&Url::parse("https://Ghcr.io/v2/").unwrap()),
            "ghcr.io"
        );
        assert_eq!(
            host_port(&Url::parse("http://[::1]:5000/").unwrap()),
            "[::1]:5000"
        );
    }
}
