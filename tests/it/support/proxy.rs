//! A recording, fault-injecting reverse proxy on 127.0.0.1.
//!
//! Request and response bodies are streamed (nothing is buffered, so large
//! uploads pass through at full speed). The incoming `Host` header is
//! forwarded unchanged, i.e. it names the proxy, so the registry's absolute
//! `Location` headers point back at the proxy.
//!
//! Faults are rules matched on method and a path substring and applied to the
//! first N matching requests, in the order the rules were added (the first
//! rule with uses left wins). A path with `*` in it is a route pattern instead
//! (`/v2/*/manifests/*`, see [`route_matches`]).
//!
//! The section "hangs, routes and connection counts" adds what the timeout,
//! signal and probe tests need: a request that is never answered
//! ([`FaultAction::Hang`]), rules that never run out ([`Fault::always`]),
//! accepted connections counted ([`FaultProxy::connections`]), and
//! [`SilentServer`], a listener that accepts and never says a word.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::bg::BackgroundServer;
use super::ports::bind_loopback;
use super::util::http_date;

/// What a matching fault does.
#[derive(Clone, Debug)]
pub enum FaultAction {
    /// Answer with this status, headers and body without forwarding. The
    /// request body is read (and counted) first, so the client reliably sees
    /// the answer.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Do not forward; reset the connection (TCP RST) without answering.
    Reset,
    /// Do not forward; close the connection (FIN) without answering.
    Close,
    /// Do not forward; read this many request-body bytes (or all of it, if
    /// shorter), then reset the connection: a failure in the middle of an
    /// upload.
    ResetAfterRequestBytes(u64),
    /// Forward (the upstream does the work), then answer with this status and
    /// headers instead of the upstream's answer.
    ForwardThenRespond {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Forward; deliver the upstream's status and headers but only this many
    /// body bytes, then abort the connection.
    TruncateResponse(u64),
    /// Wait, then forward normally.
    Delay(Duration),
    /// Do not forward and never answer: the connection stays open and silent
    /// (until the proxy is dropped).
    Hang,
}

/// A scripted fault rule.
#[derive(Clone, Debug)]
pub struct Fault {
    /// None matches every method.
    pub method: Option<Method>,
    /// Matched against path + query.
    pub path_contains: String,
    /// Applied to the first `times` matching requests.
    pub times: usize,
    pub action: FaultAction,
}

impl Fault {
    pub fn new(method: Method, path_contains: &str, times: usize, action: FaultAction) -> Fault {
        Fault {
            method: Some(method),
            path_contains: path_contains.into(),
            times,
            action,
        }
    }

    /// Answer `status` with a registry-style JSON error body.
    pub fn status(method: Method, path_contains: &str, times: usize, status: u16) -> Fault {
        Fault::status_with_headers(method, path_contains, times, status, &[])
    }

    /// Answer `status` with extra headers and a registry-style JSON error body.
    pub fn status_with_headers(
        method: Method,
        path_contains: &str,
        times: usize,
        status: u16,
        headers: &[(&str, &str)],
    ) -> Fault {
        let mut h: Vec<(String, String)> = vec![("Content-Type".into(), "application/json".into())];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Fault::new(
            method,
            path_contains,
            times,
            FaultAction::Respond {
                status,
                headers: h,
                body: error_body(status).into_bytes(),
            },
        )
    }

    /// `status` (e.g. 429) with `Retry-After: <secs>`.
    pub fn retry_after_secs(
        method: Method,
        path_contains: &str,
        times: usize,
        status: u16,
        secs: u64,
    ) -> Fault {
        let v = secs.to_string();
        Fault::status_with_headers(method, path_contains, times, status, &[("Retry-After", &v)])
    }

    /// `status` (e.g. 503) with `Retry-After` as an HTTP date `in_secs` from now.
    pub fn retry_after_date(
        method: Method,
        path_contains: &str,
        times: usize,
        status: u16,
        in_secs: u64,
    ) -> Fault {
        let when = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + in_secs;
        let v = http_date(when);
        Fault::status_with_headers(method, path_contains, times, status, &[("Retry-After", &v)])
    }

    /// Reset the connection without forwarding.
    pub fn reset(method: Method, path_contains: &str, times: usize) -> Fault {
        Fault::new(method, path_contains, times, FaultAction::Reset)
    }

    /// Match any method.
    pub fn any_method(mut self) -> Fault {
        self.method = None;
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.times > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && route_matches(&self.path_contains, path)
    }
}

fn error_body(status: u16) -> String {
    let code = match status {
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 => "NAME_UNKNOWN",
        405 => "UNSUPPORTED",
        429 => "TOOMANYREQUESTS",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    format!(
        r#"{{"errors":[{{"code":"{code}","message":"injected by FaultProxy","detail":null}}]}}"#
    )
}

/// One request as seen by the proxy.
#[derive(Clone, Debug)]
#[expect(
    dead_code,
    reason = "some fields are only read through Debug, in the messages of failed assertions"
)]
pub struct ProxyRequest {
    pub method: Method,
    /// Path and query as received.
    pub path: String,
    /// Status returned to the client; None when the connection was reset or
    /// closed without an answer (or the request is still in flight).
    pub status: Option<u16>,
    /// Request-body bytes received from the client so far.
    pub request_bytes: u64,
    /// Response-body bytes sent to the client so far.
    pub response_bytes: u64,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// `Debug` of the fault applied, if one was.
    pub fault: Option<String>,
    /// Time since the proxy started.
    pub at: Duration,
}

impl ProxyRequest {
    pub fn has_authorization(&self) -> bool {
        self.authorization.is_some()
    }
}

struct Entry {
    method: Method,
    path: String,
    headers: HeaderMap,
    fault: Option<String>,
    at: Duration,
    status: Mutex<Option<u16>>,
    request_bytes: Arc<AtomicU64>,
    response_bytes: Arc<AtomicU64>,
}

struct ProxyState {
    /// TCP connections accepted so far.
    connections: Arc<AtomicU64>,
    target: String,
    client: reqwest::Client,
    faults: Mutex<Vec<Fault>>,
    entries: Mutex<Vec<Arc<Entry>>>,
    started: Instant,
}

impl ProxyState {
    fn take_fault(&self, method: &Method, path: &str) -> Option<FaultAction> {
        let mut faults = self.faults.lock().unwrap();
        let f = faults.iter_mut().find(|f| f.matches(method, path))?;
        f.times -= 1;
        Some(f.action.clone())
    }
}

/// The proxy; stops on drop.
pub struct FaultProxy {
    state: Arc<ProxyState>,
    server: BackgroundServer,
}

impl FaultProxy {
    /// Proxies to `target_url` (e.g. `registry.url()`).
    pub fn start(target_url: &str) -> FaultProxy {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .build()
            .expect("proxy upstream client");
        let state = Arc::new(ProxyState {
            connections: Arc::new(AtomicU64::new(0)),
            target: target_url.trim_end_matches('/').to_string(),
            client,
            faults: Mutex::new(Vec::new()),
            entries: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let accepted = state.connections.clone();
        let server = BackgroundServer::spawn("fault-proxy", bind_loopback(), move |l| async move {
            let _ = axum::serve(
                KillableListener(l, accepted),
                app.into_make_service_with_connect_info::<ConnHandle>(),
            )
            .await;
        });
        FaultProxy { state, server }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn add_fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }

    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }

    /// Sum of the remaining uses of all rules (0 once every fault fired).
    pub fn faults_remaining(&self) -> usize {
        self.state
            .faults
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.times)
            .sum()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.state
            .entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| ProxyRequest {
                method: e.method.clone(),
                path: e.path.clone(),
                status: *e.status.lock().unwrap(),
                request_bytes: e.request_bytes.load(Ordering::SeqCst),
                response_bytes: e.response_bytes.load(Ordering::SeqCst),
                authorization: e
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from),
                headers: e.headers.clone(),
                fault: e.fault.clone(),
                at: e.at,
            })
            .collect()
    }

    pub fn clear_requests(&self) {
        self.state.entries.lock().unwrap().clear();
    }

    /// Total request-body bytes received from clients.
    pub fn bytes_uploaded(&self) -> u64 {
        self.requests().iter().map(|r| r.request_bytes).sum()
    }

    /// Number of requests with this method.
    pub fn count(&self, method: Method) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    /// Number of requests with this method whose path contains `path_contains`.
    pub fn count_matching(&self, method: Method, path_contains: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(path_contains))
            .count()
    }
}

// ---- hangs, routes and connection counts ----

/// Whether `pattern` matches a request's path and query. Without `*` it is a
/// substring (the original rule). With `*`, it is a route: `*` matches any run
/// of characters within one path segment (no `/`), `**` any run at all, and
/// the pattern must match the path from its start; the query is ignored.
/// `/v2/*/manifests/*` matches `GET /v2/app/manifests/v1` but not
/// `/v2/team/app/manifests/v1`; `/v2/**/manifests/*` matches both.
pub fn route_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('*') {
        return path.contains(pattern);
    }
    let path = path.split('?').next().unwrap_or(path);
    glob(pattern.as_bytes(), path.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        [b'*', rest @ ..] => {
            let seg = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
            (0..=seg).any(|i| glob(rest, &s[i..]))
        }
        [c, rest @ ..] => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// Uses enough to never run out in a test.
pub const ALWAYS: usize = 1 << 30;

impl Fault {
    /// A rule that applies to every matching request (`times` = [`ALWAYS`]).
    pub fn always(method: Method, route: &str, action: FaultAction) -> Fault {
        Fault::new(method, route, ALWAYS, action)
    }

    /// Never answer the first `times` matching requests.
    pub fn hang(method: Method, route: &str, times: usize) -> Fault {
        Fault::new(method, route, times, FaultAction::Hang)
    }

    /// Delay the first `times` matching requests by `by`, then forward them.
    pub fn delay(method: Method, route: &str, times: usize, by: Duration) -> Fault {
        Fault::new(method, route, times, FaultAction::Delay(by))
    }
}

impl FaultProxy {
    /// TCP connections the proxy has accepted.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Number of requests with this method whose path matches `route` (a
    /// substring, or a pattern with `*`, as in rules).
    pub fn count_route(&self, method: Method, route: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && route_matches(route, &r.path))
            .count()
    }
}

/// A loopback listener that accepts connections and never reads or writes:
/// a registry that hangs before answering anything. It counts the accepted
/// connections and keeps them open until dropped.
pub struct SilentServer {
    accepted: Arc<AtomicU64>,
    server: BackgroundServer,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        let server = BackgroundServer::spawn("silent", bind_loopback(), move |l| async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = l.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                open.push(stream);
            }
        });
        SilentServer { accepted, server }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            to.append(k.clone(), v.clone());
        }
    }
}

fn plain(status: StatusCode, msg: String) -> Response {
    (status, msg).into_response()
}

fn build_response(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).expect("valid status");
    for (k, v) in headers {
        resp.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    resp
}

async fn handle(
    State(st): State<Arc<ProxyState>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let action = st.take_fault(&parts.method, &path);
    let entry = Arc::new(Entry {
        method: parts.method.clone(),
        path: path.clone(),
        headers: parts.headers.clone(),
        fault: action.as_ref().map(|a| format!("{a:?}")),
        at: st.started.elapsed(),
        status: Mutex::new(None),
        request_bytes: Arc::new(AtomicU64::new(0)),
        response_bytes: Arc::new(AtomicU64::new(0)),
    });
    st.entries.lock().unwrap().push(entry.clone());
    let set_status = |s: u16| *entry.status.lock().unwrap() = Some(s);

    let req_counter = entry.request_bytes.clone();
    let mut body_stream = body
        .into_data_stream()
        .inspect_ok(move |b| {
            req_counter.fetch_add(b.len() as u64, Ordering::SeqCst);
        })
        .boxed();

    match &action {
        Some(FaultAction::Respond {
            status,
            headers,
            body,
        }) => {
            while let Some(Ok(_)) = body_stream.next().await {}
            set_status(*status);
            return build_response(*status, headers, body.clone());
        }
        Some(FaultAction::Reset) => return conn.kill(true),
        Some(FaultAction::Close) => return conn.kill(false),
        Some(FaultAction::ResetAfterRequestBytes(n)) => {
            while entry.request_bytes.load(Ordering::SeqCst) < *n {
                match body_stream.next().await {
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            return conn.kill(true);
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(*d).await,
        Some(FaultAction::Hang) => std::future::pending::<()>().await,
        _ => {}
    }

    // Forward.
    let url = format!("{}{}", st.target, path);
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let has_body = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| n > 0)
        .unwrap_or_else(|| parts.headers.contains_key(header::TRANSFER_ENCODING));
    let mut rb = st
        .client
        .request(parts.method.clone(), &url)
        .headers(headers);
    if has_body {
        rb = rb.body(reqwest::Body::wrap_stream(body_stream));
    }
    let upstream = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            set_status(502);
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("FaultProxy: upstream {url}: {e}"),
            );
        }
    };

    if let Some(FaultAction::ForwardThenRespond { status, headers }) = action {
        let _ = upstream.bytes().await;
        set_status(status);
        let body = error_body(status).into_bytes();
        let mut h = vec![("Content-Type".to_string(), "application/json".to_string())];
        h.extend(headers);
        return build_response(status, &h, body);
    }

    let status = upstream.status();
    let mut resp_headers = HeaderMap::new();
    copy_headers(upstream.headers(), &mut resp_headers);
    let resp_counter = entry.response_bytes.clone();
    let stream = upstream
        .bytes_stream()
        .map_err(io::Error::other)
        .inspect_ok(move |b| {
            resp_counter.fetch_add(b.len() as u64, Ordering::SeqCst);
        });
    let body = match action {
        Some(FaultAction::TruncateResponse(limit)) => Body::from_stream(truncate(stream, limit)),
        _ => Body::from_stream(stream),
    };
    set_status(status.as_u16());
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = resp_headers;
    resp
}

/// Yields at most `limit` bytes of `up`, then an error (which makes hyper
/// abort the connection).
fn truncate<S>(up: S, limit: u64) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send
where
    S: futures_util::Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
{
    futures_util::stream::unfold(
        (up, 0u64, false),
        move |(mut up, sent, failed)| async move {
            if failed {
                return None;
            }
            if sent >= limit {
                // Let hyper flush the head and the bytes so far before failing.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let e = io::Error::other("response truncated by FaultProxy");
                return Some((Err(e), (up, sent, true)));
            }
            match up.next().await {
                Some(Ok(mut b)) => {
                    let room = (limit - sent) as usize;
                    if b.len() > room {
                        b.truncate(room);
                    }
                    let n = sent + b.len() as u64;
                    Some((Ok(b), (up, n, false)))
                }
                Some(Err(e)) => Some((Err(e), (up, sent, true))),
                None => None,
            }
        },
    )
}

// ---- connections that a handler can kill ----

struct KillState {
    killed: AtomicBool,
    rst: AtomicBool,
}

/// Per-connection handle given to the handler through `ConnectInfo`.
#[derive(Clone)]
struct ConnHandle(Arc<KillState>);

impl ConnHandle {
    /// Marks the connection dead: hyper's next read or write on it fails and
    /// the socket is dropped (with RST when `rst`). The returned response is
    /// never delivered.
    fn kill(&self, rst: bool) -> Response {
        self.0.rst.store(rst, Ordering::SeqCst);
        self.0.killed.store(true, Ordering::SeqCst);
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

struct KillableListener(TcpListener, Arc<AtomicU64>);

struct KillableStream {
    inner: TcpStream,
    state: Arc<KillState>,
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    self.1.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_nodelay(true);
                    let state = Arc::new(KillState {
                        killed: AtomicBool::new(false),
                        rst: AtomicBool::new(false),
                    });
                    return (
                        KillableStream {
                            inner: stream,
                            state,
                        },
                        addr,
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        ConnHandle(stream.io().state.clone())
    }
}

impl KillableStream {
    fn check(&mut self) -> io::Result<()> {
        if !self.state.killed.load(Ordering::SeqCst) {
            return Ok(());
        }
        if self.state.rst.load(Ordering::SeqCst) {
            // SO_LINGER 0: closing sends RST. With a zero timeout the close
            // does not block.
            #[allow(deprecated)]
            let _ = self.inner.set_linger(Some(Duration::ZERO));
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection killed by FaultProxy",
        ))
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

// ---- paging and body faults (robustness tests) ----
//
// Self-contained: each builds a `Fault` that answers in the registry's place, so a test can
// make a registry page in circles or serve other bytes than the ones asked for.

impl Fault {
    /// `GET` of a tag-list page whose path and query contain `path_contains`: answers one page
    /// of `tags` for repository `name` whose `Link: <next>; rel="next"` points where the test
    /// says, e.g. back at an earlier page (a registry whose paging loops).
    pub fn loop_pages(
        path_contains: &str,
        times: usize,
        name: &str,
        tags: &[&str],
        next: &str,
    ) -> Fault {
        let body = serde_json::json!({ "name": name, "tags": tags });
        Fault::new(
            Method::GET,
            path_contains,
            times,
            FaultAction::Respond {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Link".into(), format!("<{next}>; rel=\"next\"")),
                ],
                body: serde_json::to_vec(&body).expect("JSON"),
            },
        )
    }

    /// `GET` of a manifest whose path contains `path_contains`: answers `body` as `media_type`
    /// instead of what the registry holds (other bytes than the digest asked for, or an
    /// oversized manifest). `Docker-Content-Digest` is the body's own digest, as a registry
    /// that lost track of its content would send.
    pub fn swap_body(path_contains: &str, times: usize, media_type: &str, body: Vec<u8>) -> Fault {
        let digest = super::util::sha256_digest(&body);
        Fault::new(
            Method::GET,
            path_contains,
            times,
            FaultAction::Respond {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), media_type.into()),
                    ("Docker-Content-Digest".into(), digest),
                ],
                body,
            },
        )
    }
}
