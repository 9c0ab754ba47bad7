//! A redirect to another host does not carry credentials
//! (docs/registries.md#rate-limits-and-redirects).
//!
//! Two loopback servers:
//! - a fake registry on `127.0.0.1:A` that requires Basic `alice`/`secret`
//!   (401 `WWW-Authenticate: Basic realm="test"` otherwise) and answers
//!   `GET /v2/<repo>/blobs/<digest>` with `307 Location:
//!   http://localhost:B/blob-data?sig=abc`, a different host *and* port;
//! - a "storage" server on `localhost:B` that serves the blob bytes and
//!   records whether an `Authorization` header arrived.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::bg::BackgroundServer;
use super::ports::bind_loopback;
use super::util::sha256_digest;

pub const REDIRECT_USER: &str = "alice";
pub const REDIRECT_PASSWORD: &str = "secret";

/// A request seen by either server of the pair.
#[derive(Clone, Debug)]
#[expect(
    dead_code,
    reason = "some fields are only read through Debug, in the messages of failed assertions"
)]
pub struct RedirectRequest {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    pub status: u16,
}

struct PairState {
    blob: Vec<u8>,
    digest: String,
    storage_port: u16,
    registry_requests: Mutex<Vec<RedirectRequest>>,
    storage_requests: Mutex<Vec<RedirectRequest>>,
}

/// The pair; both servers stop on drop.
pub struct RedirectPair {
    state: Arc<PairState>,
    registry: BackgroundServer,
    /// Held so the storage server runs as long as the pair.
    _storage: BackgroundServer,
}

impl RedirectPair {
    /// Serves `blob` (under its sha256 digest, in any repository).
    pub fn start(blob: Vec<u8>) -> RedirectPair {
        let storage_listener = bind_loopback();
        let storage_port = storage_listener.local_addr().expect("addr").port();
        let state = Arc::new(PairState {
            digest: sha256_digest(&blob),
            blob,
            storage_port,
            registry_requests: Mutex::new(Vec::new()),
            storage_requests: Mutex::new(Vec::new()),
        });
        let storage_app = Router::new()
            .fallback(storage_handler)
            .with_state(state.clone());
        let storage =
            BackgroundServer::spawn("redirect-storage", storage_listener, move |l| async move {
                let _ = axum::serve(l, storage_app).await;
            });
        let registry_app = Router::new()
            .fallback(registry_handler)
            .with_state(state.clone());
        let registry =
            BackgroundServer::spawn("redirect-registry", bind_loopback(), move |l| async move {
                let _ = axum::serve(l, registry_app).await;
            });
        RedirectPair {
            state,
            registry,
            _storage: storage,
        }
    }

    /// `127.0.0.1:A`
    pub fn registry_host(&self) -> String {
        self.registry.addr().to_string()
    }

    /// `http://127.0.0.1:A`
    pub fn registry_url(&self) -> String {
        format!("http://{}", self.registry.addr())
    }

    /// `http://localhost:B`
    pub fn storage_url(&self) -> String {
        format!("http://localhost:{}", self.state.storage_port)
    }

    /// The absolute URL the blob GET redirects to.
    pub fn redirect_location(&self) -> String {
        format!("{}/blob-data?sig=abc", self.storage_url())
    }

    pub fn blob(&self) -> &[u8] {
        &self.state.blob
    }

    pub fn blob_digest(&self) -> &str {
        &self.state.digest
    }

    pub fn registry_requests(&self) -> Vec<RedirectRequest> {
        self.state.registry_requests.lock().unwrap().clone()
    }

    pub fn storage_requests(&self) -> Vec<RedirectRequest> {
        self.state.storage_requests.lock().unwrap().clone()
    }

    /// None if the storage server was never hit; Some(None) if it was hit
    /// without `Authorization` (every time); Some(Some(value)) with the first
    /// `Authorization` value that leaked.
    pub fn storage_authorization(&self) -> Option<Option<String>> {
        let reqs = self.storage_requests();
        if reqs.is_empty() {
            return None;
        }
        Some(reqs.into_iter().find_map(|r| r.authorization))
    }
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

fn basic_ok(auth: Option<&str>) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{REDIRECT_USER}:{REDIRECT_PASSWORD}"))
    );
    auth.is_some_and(|a| a.trim() == expected)
}

fn json_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"errors":[{{"code":"{code}","message":"{code}","detail":null}}]}}"#),
    )
        .into_response()
}

async fn registry_handler(State(st): State<Arc<PairState>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let auth = authorization(req.headers());
    let resp = registry_answer(&st, &method, req.uri().path(), auth.as_deref());
    st.registry_requests.lock().unwrap().push(RedirectRequest {
        method,
        path,
        authorization: auth,
        status: resp.status().as_u16(),
    });
    resp
}

fn registry_answer(st: &PairState, method: &Method, path: &str, auth: Option<&str>) -> Response {
    if !basic_ok(auth) {
        let mut r = json_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"test\"".parse().expect("header"),
        );
        return r;
    }
    if path == "/v2/" || path == "/v2" {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response();
    }
    let blob_digest = path
        .strip_prefix("/v2/")
        .and_then(|rest| rest.rsplit_once("/blobs/"))
        .map(|(_, d)| d);
    match (blob_digest, method) {
        (Some(d), &Method::GET) if d == st.digest => (
            StatusCode::TEMPORARY_REDIRECT,
            [(
                header::LOCATION,
                format!("http://localhost:{}/blob-data?sig=abc", st.storage_port),
            )],
        )
            .into_response(),
        (Some(d), &Method::HEAD) if d == st.digest => (
            StatusCode::OK,
            [
                (header::CONTENT_LENGTH, st.blob.len().to_string()),
                (header::CONTENT_TYPE, "application/octet-stream".into()),
                (
                    "docker-content-digest".parse().expect("name"),
                    st.digest.clone(),
                ),
            ],
        )
            .into_response(),
        (Some(_), _) => json_error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
        _ => json_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
    }
}

async fn storage_handler(State(st): State<Arc<PairState>>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let auth = authorization(req.headers());
    let ok = req.uri().path() == "/blob-data" && req.uri().query() == Some("sig=abc");
    let resp = if ok {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            st.blob.clone(),
        )
            .into_response()
    } else {
        (StatusCode::FORBIDDEN, "bad signature").into_response()
    };
    st.storage_requests.lock().unwrap().push(RedirectRequest {
        method: req.method().clone(),
        path,
        authorization: auth,
        status: resp.status().as_u16(),
    });
    resp
}
