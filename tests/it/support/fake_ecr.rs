//! ECR for tests: moto (the real AWS wire protocol for the ECR API) plus a real `docker-registry`
//! as the data plane, bridged the way ECR behaves; and a small in-memory fake of the ECR JSON 1.1
//! protocol for what moto does not reproduce (docs/registries.md#test-fakes,
//! #real-servers-in-the-tests).
//!
//! [`EcrStack`] = moto + [`ApiProxy`] (counts `X-Amz-Target`s, injects AWS errors and per-id
//! failures, and refuses more than 100 ids, which moto accepts) + `docker-registry` behind a
//! [`DataPlane`] bridge (repositories must exist in ECR; every manifest PUT is recorded in moto
//! with `PutImage`, same bytes, tag and digest; tags and digests resolve through moto, so what the
//! API deleted is gone from the registry too).
//!
//! [`FakeEcr`] = the JSON 1.1 protocol in memory: `nextToken` paging (moto never pages), the
//! 100-id limit, `failures[]` including `ImageReferencedByManifestList`, the last tag taking the
//! image, no `imageTags` for untagged images, `ImageNotFoundException` for a missing id, and
//! `ImageTagAlreadyExistsException` on an immutable repository.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::bg::BackgroundServer;
use super::ports::{bind_loopback, free_port};
use super::registry::{RegistryAuth, RegistryOptions, RegistryServer};

/// moto's fixed account (docs/registries.md#real-servers-in-the-tests).
pub const ACCOUNT: &str = "123456789012";
/// The region the tests use.
pub const REGION: &str = "eu-west-1";
/// What moto's `GetAuthorizationToken` decodes to: `AWS:<account>-auth-token`
/// (docs/registries.md#real-servers-in-the-tests). The data plane accepts exactly this Basic
/// credential, so a push proves the login was made and used.
pub const LOGIN_USER: &str = "AWS";
pub const LOGIN_PASSWORD: &str = "123456789012-auth-token";
const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";
const JSON_11: &str = "application/x-amz-json-1.1";

// -------------------------------------------------------------------------------------------------
// moto

/// Where `moto_server` is: `MOTO_SERVER_BIN`, the virtualenv `scripts/install-deps` makes
/// (`.venv/bin/moto_server` in the repository), or `PATH`.
pub fn moto_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

/// `moto_server`, or `None` (the test then returns early) on a developer machine without it.
/// In CI (`CI=true`) a missing moto fails the test: it must not pass by skipping.
pub fn require_moto() -> Option<PathBuf> {
    match moto_server_path() {
        Some(p) => Some(p),
        None if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "moto_server not found (CI=true): run scripts/install-deps, or set MOTO_SERVER_BIN"
        ),
        None => {
            eprintln!("SKIPPED: moto_server not found; run scripts/install-deps");
            None
        }
    }
}

/// A `moto_server` process on a free loopback port, killed on drop (a watchdog also kills it
/// when the test process dies).
pub struct Moto {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start(bin: &Path) -> Moto {
        let dir = tempfile::Builder::new()
            .prefix("dockhand-moto-")
            .tempdir()
            .unwrap();
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log_path = dir.path().join("moto.log");
            let log = File::create(&log_path).unwrap();
            let script = r#"exec 3<&0
"$0" -H 127.0.0.1 -p "$1" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill -9 "$pid" 2>/dev/null ) &
exec 3<&-
wait "$pid"
"#;
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c")
                .arg(script)
                .arg(bin)
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log));
            for (k, _) in std::env::vars_os() {
                let k = k.to_string_lossy().to_string();
                if k.starts_with("AWS_") || k.to_ascii_lowercase().ends_with("_proxy") {
                    cmd.env_remove(k);
                }
            }
            let mut child = cmd.spawn().expect("spawn moto_server");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    last = format!(
                        "exited {status}: {}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    return Moto {
                        child: Some(child),
                        port,
                        _dir: dir,
                    };
                }
                if Instant::now() > deadline {
                    drop(child.stdin.take());
                    let _ = child.kill();
                    panic!(
                        "moto_server did not listen on {addr} within 60 s: {}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto_server could not start: {last}");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Calls the ECR API of `base` (moto, a proxy, or [`FakeEcr`]) the way the SDK does: `POST /`,
/// JSON 1.1, `X-Amz-Target`, and a SigV4-shaped `Authorization` naming the region and service
/// (moto routes on it and checks no signature).
#[derive(Clone)]
pub struct EcrClient {
    base: String,
    http: reqwest::Client,
}

impl EcrClient {
    pub fn new(base: &str) -> EcrClient {
        EcrClient {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// (status, JSON body) of one action.
    pub async fn call(&self, action: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/", self.base))
            .header(header::CONTENT_TYPE, JSON_11)
            .header("x-amz-target", format!("{TARGET_PREFIX}{action}"))
            .header(
                header::AUTHORIZATION,
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ecr/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=0"
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("ECR {action} to {}: {e}", self.base));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Like [`call`](Self::call), panicking unless it answers 200.
    pub async fn ok(&self, action: &str, body: &Value) -> Value {
        let (status, v) = self.call(action, body).await;
        assert_eq!(status, 200, "ECR {action} {body}: {v}");
        v
    }

    pub async fn create_repository(&self, name: &str) {
        let (status, v) = self
            .call("CreateRepository", &json!({"repositoryName": name}))
            .await;
        assert!(
            status == 200 || error_type(&v) == "RepositoryAlreadyExistsException",
            "CreateRepository {name}: {v}"
        );
    }

    pub async fn put_image(
        &self,
        repo: &str,
        manifest: &str,
        media_type: &str,
        digest: &str,
        tag: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({
            "repositoryName": repo,
            "imageManifest": manifest,
            "imageManifestMediaType": media_type,
            "imageDigest": digest,
        });
        if let Some(t) = tag {
            body["imageTag"] = json!(t);
        }
        self.call("PutImage", &body).await
    }

    /// digest → sorted tags, for every image of `repo` (empty when it does not exist), following
    /// `nextToken` should the server page.
    pub async fn images(&self, repo: &str) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let mut next: Option<String> = None;
        loop {
            let mut body = json!({"repositoryName": repo});
            if let Some(t) = &next {
                body["nextToken"] = json!(t);
            }
            let (status, v) = self.call("DescribeImages", &body).await;
            if error_type(&v) == "RepositoryNotFoundException" {
                return out;
            }
            assert_eq!(status, 200, "DescribeImages {repo}: {v}");
            for d in v["imageDetails"].as_array().into_iter().flatten() {
                let mut tags: Vec<String> = d["imageTags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect();
                tags.sort();
                out.insert(d["imageDigest"].as_str().unwrap().to_string(), tags);
            }
            match v["nextToken"].as_str() {
                Some(t) => next = Some(t.to_string()),
                None => return out,
            }
        }
    }

    /// The repositories of the registry.
    pub async fn repositories(&self) -> Vec<String> {
        let v = self.ok("DescribeRepositories", &json!({})).await;
        let mut names: Vec<String> = v["repositories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["repositoryName"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }
}

/// The error name of an AWS JSON error body, without a `namespace#` prefix.
pub fn error_type(v: &Value) -> &str {
    let t = v["__type"].as_str().unwrap_or_default();
    t.rsplit('#').next().unwrap_or(t)
}

/// An AWS JSON 1.1 error (docs/registries.md#aws-ecr: 400 with `__type` and `message`, and
/// `x-amzn-ErrorType`; 500 for `ServerException`). The `__type` carries a namespace, as AWS's
/// may, so clients must keep only the part after `#`.
pub fn aws_error(status: u16, error_type: &str, message: &str) -> Response {
    let body = json!({
        "__type": format!("com.amazonaws.ecr#{error_type}"),
        "message": message,
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_11));
    resp.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(&format!("{error_type}:")).unwrap(),
    );
    resp
}

fn json_response(v: &Value) -> Response {
    let mut resp = Response::new(Body::from(v.to_string()));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_11));
    resp
}

fn action_of(headers: &HeaderMap) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim_start_matches(TARGET_PREFIX).to_string())
        .unwrap_or_default()
}

// -------------------------------------------------------------------------------------------------
// The API proxy in front of moto

/// An AWS error answered instead of forwarding, for the first `times` calls of `action`.
#[derive(Clone, Debug)]
pub struct ApiFault {
    pub action: String,
    pub times: usize,
    pub status: u16,
    pub error_type: String,
    pub message: String,
}

impl ApiFault {
    pub fn new(action: &str, times: usize, status: u16, error_type: &str, message: &str) -> Self {
        ApiFault {
            action: action.into(),
            times,
            status,
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

/// One API call the proxy saw.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub action: String,
    pub body: Value,
    /// The status the client got.
    pub status: u16,
}

#[derive(Default)]
struct ApiState {
    calls: Vec<ApiCall>,
    faults: Vec<ApiFault>,
    /// Tag or digest → (failureCode, failureReason) that BatchDeleteImage reports for it
    /// instead of deleting it.
    fail_ids: HashMap<String, (String, String)>,
    /// Digest → `lastRecordedPullTime` (epoch seconds) added to DescribeImages answers: AWS
    /// documents the field (DescribeImages, ImageDetail), moto does not fill it.
    pulled: HashMap<String, f64>,
    /// Digest → `imagePushedAt` (epoch seconds) put into DescribeImages answers instead of
    /// moto's: moto stamps a push with the present, and a test cannot wait days.
    pushed: HashMap<String, f64>,
}

/// A recording proxy in front of an ECR API (moto): counts `X-Amz-Target`s, injects AWS errors
/// and `failures[]` entries, and enforces the 100-id limit that moto does not.
pub struct ApiProxy {
    state: Arc<Mutex<ApiState>>,
    server: BackgroundServer,
}

struct ApiProxyCtx {
    state: Arc<Mutex<ApiState>>,
    upstream: String,
    http: reqwest::Client,
    /// moto is not safe for concurrent changes of one repository (parallel BatchDeleteImage
    /// calls lost deletions while reporting them done); real ECR is, so the proxy serialises.
    serial: tokio::sync::Mutex<()>,
}

impl ApiProxy {
    pub fn start(upstream: &str) -> ApiProxy {
        let state = Arc::new(Mutex::new(ApiState::default()));
        let ctx = Arc::new(ApiProxyCtx {
            state: state.clone(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            serial: tokio::sync::Mutex::new(()),
        });
        let app = Router::new().fallback(api_proxy).with_state(ctx);
        let server =
            BackgroundServer::spawn("ecr-api-proxy", bind_loopback(), move |l| async move {
                let _ = axum::serve(l, app).await;
            });
        ApiProxy { state, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn add_fault(&self, fault: ApiFault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// BatchDeleteImage reports `id` (a tag or a digest) in `failures[]` with this code.
    pub fn fail_id(&self, id: &str, code: &str, reason: &str) {
        self.state
            .lock()
            .unwrap()
            .fail_ids
            .insert(id.into(), (code.into(), reason.into()));
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// DescribeImages reports `lastRecordedPullTime` = `secs` (epoch) for `digest`.
    pub fn set_pulled(&self, digest: &str, secs: f64) {
        self.state
            .lock()
            .unwrap()
            .pulled
            .insert(digest.into(), secs);
    }

    /// DescribeImages reports `imagePushedAt` = `secs` (epoch) for `digest`.
    pub fn set_pushed(&self, digest: &str, secs: f64) {
        self.state
            .lock()
            .unwrap()
            .pushed
            .insert(digest.into(), secs);
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    /// How many calls of `action` were made (answered or refused).
    pub fn count(&self, action: &str) -> usize {
        self.calls().iter().filter(|c| c.action == action).count()
    }
}

/// Actions whose `imageIds` may hold at most 100 ids (docs/registries.md#aws-ecr; moto accepts
/// 101).
const ID_LIMITED: &[&str] = &["BatchDeleteImage", "BatchGetImage", "DescribeImages"];

async fn api_proxy(State(ctx): State<Arc<ApiProxyCtx>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let action = action_of(&parts.headers);
    let mut json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    // Calls are recorded as the client sent them (before failure injection edits them).
    let original = json.clone();
    let record = |status: u16, _: &Value| {
        ctx.state.lock().unwrap().calls.push(ApiCall {
            action: action.clone(),
            body: original.clone(),
            status,
        });
    };

    let fault = {
        let mut st = ctx.state.lock().unwrap();
        st.faults
            .iter_mut()
            .find(|f| f.action == action && f.times > 0)
            .map(|f| {
                f.times -= 1;
                f.clone()
            })
    };
    if let Some(f) = fault {
        record(f.status, &json);
        return aws_error(f.status, &f.error_type, &f.message);
    }
    let ids = json["imageIds"].as_array().map(Vec::len).unwrap_or(0);
    if ID_LIMITED.contains(&action.as_str()) && ids > 100 {
        record(400, &json);
        return aws_error(
            400,
            "InvalidParameterException",
            &format!(
                "1 validation error detected: Value at 'imageIds' failed to satisfy constraint: \
                 Member must have length less than or equal to 100 (got {ids})"
            ),
        );
    }

    // Per-id failures: taken out of the request, reported in `failures[]`.
    let mut injected = Vec::new();
    if action == "BatchDeleteImage" {
        let fail_ids = ctx.state.lock().unwrap().fail_ids.clone();
        if let Some(list) = json["imageIds"].as_array_mut() {
            list.retain(|id| {
                let key = id["imageTag"]
                    .as_str()
                    .or_else(|| id["imageDigest"].as_str())
                    .unwrap_or_default();
                match fail_ids.get(key) {
                    Some((code, reason)) => {
                        injected.push(json!({
                            "imageId": id, "failureCode": code, "failureReason": reason,
                        }));
                        false
                    }
                    None => true,
                }
            });
        }
        if !injected.is_empty() && json["imageIds"].as_array().is_some_and(Vec::is_empty) {
            let v = json!({"imageIds": [], "failures": injected});
            record(200, &json);
            return json_response(&v);
        }
    }

    let mut rb = ctx
        .http
        .post(format!("{}/", ctx.upstream))
        .body(json.to_string());
    for (k, v) in &parts.headers {
        if k != header::HOST && k != header::CONTENT_LENGTH {
            rb = rb.header(k, v);
        }
    }
    let serial = ctx.serial.lock().await;
    let upstream = match rb.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = upstream.status().as_u16();
    let headers = upstream.headers().clone();
    let body = upstream.bytes().await.unwrap_or_default();
    drop(serial);
    record(status, &json);
    let (pulled, pushed) = {
        let st = ctx.state.lock().unwrap();
        (st.pulled.clone(), st.pushed.clone())
    };
    if action == "DescribeImages" && status == 200 && !(pulled.is_empty() && pushed.is_empty()) {
        let mut v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
        if let Some(details) = v["imageDetails"].as_array_mut() {
            for d in details {
                let digest = d["imageDigest"].as_str().unwrap_or_default().to_string();
                if let Some(t) = pulled.get(&digest) {
                    d["lastRecordedPullTime"] = json!(t);
                }
                if let Some(t) = pushed.get(&digest) {
                    d["imagePushedAt"] = json!(t);
                }
            }
        }
        return json_response(&v);
    }
    if !injected.is_empty() && status == 200 {
        let mut v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
        let mut failures = v["failures"].as_array().cloned().unwrap_or_default();
        failures.extend(injected);
        v["failures"] = json!(failures);
        return json_response(&v);
    }
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in &headers {
        if k != header::CONTENT_LENGTH && k != header::TRANSFER_ENCODING {
            resp.headers_mut().insert(k, v.clone());
        }
    }
    resp
}

// -------------------------------------------------------------------------------------------------
// The data plane: docker-registry behind a bridge to moto

/// One data-plane request the bridge saw.
#[derive(Clone, Debug)]
pub struct PlaneRequest {
    pub method: Method,
}

struct PlaneCtx {
    registry: String,
    moto: EcrClient,
    http: reqwest::Client,
    seen: Mutex<Vec<PlaneRequest>>,
    /// Repositories known to exist in moto (a repository is never deleted in these tests).
    known: Mutex<HashSet<String>>,
}

/// The registry data plane of the fake ECR: a real `docker-registry` behind a bridge that makes
/// it behave like ECR's, with moto as the one source of truth for repositories, tags and images.
pub struct DataPlane {
    ctx: Arc<PlaneCtx>,
    server: BackgroundServer,
}

impl DataPlane {
    pub fn start(registry_url: &str, moto_url: &str) -> DataPlane {
        let ctx = Arc::new(PlaneCtx {
            registry: registry_url.trim_end_matches('/').to_string(),
            moto: EcrClient::new(moto_url),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            seen: Mutex::new(Vec::new()),
            known: Mutex::new(HashSet::new()),
        });
        let app = Router::new().fallback(plane).with_state(ctx.clone());
        let server =
            BackgroundServer::spawn("ecr-data-plane", bind_loopback(), move |l| async move {
                let _ = axum::serve(l, app).await;
            });
        DataPlane { ctx, server }
    }

    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    pub fn requests(&self) -> Vec<PlaneRequest> {
        self.ctx.seen.lock().unwrap().clone()
    }
}

/// `/v2/<name>/<kind>/<rest>` → (name, kind, rest); `kind` is manifests, blobs, tags or referrers.
fn split_v2(path: &str) -> Option<(String, &'static str, String)> {
    let rest = path.strip_prefix("/v2/")?;
    for kind in ["manifests", "blobs", "tags", "referrers"] {
        if let Some(i) = rest.rfind(&format!("/{kind}/")) {
            let name = &rest[..i];
            let tail = &rest[i + kind.len() + 2..];
            // blobs/uploads/<id> has "/blobs/" too; the rightmost "/manifests/" etc. is right
            // for names that do not contain those words as segments.
            return Some((name.to_string(), kind, tail.to_string()));
        }
    }
    None
}

fn registry_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"code": code, "message": message}]});
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn plane(State(ctx): State<Arc<PlaneCtx>>, req: Request) -> Response {
    let method = req.method().clone();
    let resp = plane_inner(&ctx, req).await;
    ctx.seen.lock().unwrap().push(PlaneRequest { method });
    resp
}

async fn plane_inner(ctx: &PlaneCtx, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let authed = parts.headers.contains_key(header::AUTHORIZATION);
    let Some((name, kind, tail)) = split_v2(&path) else {
        return forward(ctx, &parts, &path, &query, body).await;
    };
    if !authed {
        // The registry answers with its Basic challenge.
        return forward(ctx, &parts, &path, &query, body).await;
    }
    // docs/registries.md#aws-ecr: ECR does not create repositories on push.
    if !ctx.known.lock().unwrap().contains(&name) {
        let (status, v) = ctx
            .moto
            .call("DescribeRepositories", &json!({"repositoryNames": [name]}))
            .await;
        if status != 200 {
            return registry_error(
                404,
                "NAME_UNKNOWN",
                &format!(
                    "The repository with name '{name}' does not exist in the registry with id '{ACCOUNT}' ({})",
                    error_type(&v)
                ),
            );
        }
        ctx.known.lock().unwrap().insert(name.clone());
    }
    match (kind, parts.method.clone()) {
        ("tags", Method::GET) => {
            // Tags are what ECR lists.
            let v = ctx
                .moto
                .ok("ListImages", &json!({"repositoryName": name}))
                .await;
            let mut tags: Vec<&str> = v["imageIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["imageTag"].as_str())
                .collect();
            tags.sort();
            tags.dedup();
            let mut resp =
                Response::new(Body::from(json!({"name": name, "tags": tags}).to_string()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        ("manifests", Method::GET | Method::HEAD) => {
            // A tag or digest resolves through ECR: what the API deleted is gone.
            let id = if tail.starts_with("sha256:") {
                json!({"imageDigest": tail})
            } else {
                json!({"imageTag": tail})
            };
            let (status, v) = ctx
                .moto
                .call(
                    "DescribeImages",
                    &json!({"repositoryName": name, "imageIds": [id]}),
                )
                .await;
            let digest = v["imageDetails"][0]["imageDigest"].as_str();
            match (status, digest) {
                (200, Some(d)) => {
                    let p = format!("/v2/{name}/manifests/{d}");
                    forward(ctx, &parts, &p, &query, body).await
                }
                _ => registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
            }
        }
        ("manifests", Method::PUT) => {
            let media_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let manifest = String::from_utf8_lossy(&body).into_owned();
            let resp = forward(ctx, &parts, &path, &query, body).await;
            if resp.status() != StatusCode::CREATED {
                return resp;
            }
            let digest = resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let tag = (!tail.starts_with("sha256:")).then_some(tail.as_str());
            let (status, v) = ctx
                .moto
                .put_image(&name, &manifest, &media_type, &digest, tag)
                .await;
            // A repeated push of the same tag and digest is no change.
            if status != 200 && error_type(&v) != "ImageAlreadyExistsException" {
                return registry_error(
                    500,
                    "UNKNOWN",
                    &format!("PutImage {name}:{tail}@{digest}: {v}"),
                );
            }
            resp
        }
        // ECR manages images through its API; this fake refuses registry deletes [U: not
        // documented for ECR], so a client that deletes through the data plane fails visibly.
        (_, Method::DELETE) => registry_error(405, "UNSUPPORTED", "use BatchDeleteImage"),
        _ => forward(ctx, &parts, &path, &query, body).await,
    }
}

async fn forward(
    ctx: &PlaneCtx,
    parts: &axum::http::request::Parts,
    path: &str,
    query: &str,
    body: bytes::Bytes,
) -> Response {
    let url = format!("{}{path}{query}", ctx.registry);
    let mut rb = ctx.http.request(parts.method.clone(), &url);
    for (k, v) in &parts.headers {
        // Host is kept, so the registry's absolute Locations point back at the bridge.
        if k != header::CONTENT_LENGTH {
            rb = rb.header(k, v);
        }
    }
    if !body.is_empty() {
        rb = rb.body(body);
    }
    let upstream = match rb.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let body = upstream.bytes().await.unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    for (k, v) in &headers {
        if k != header::TRANSFER_ENCODING {
            resp.headers_mut().append(k, v.clone());
        }
    }
    resp
}

/// An OCI image manifest unique to `salt` whose blobs are never uploaded (moto's PutImage does
/// not look for them): `(manifest, digest)`.
pub fn synthetic_manifest(salt: &str) -> (String, String) {
    let fake = |what: &str| super::util::sha256_digest(format!("{what}-{salt}").as_bytes());
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": fake("config"), "size": 100},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": fake("layer"), "size": 200}],
    })
    .to_string();
    let digest = super::util::sha256_digest(m.as_bytes());
    (m, digest)
}

/// moto for the API (behind [`ApiProxy`]) and docker-registry for the data plane (behind
/// [`DataPlane`]), with the Basic login moto hands out.
pub struct EcrStack {
    pub rt: tokio::runtime::Runtime,
    /// Held so the moto process lives as long as the stack.
    _moto: Moto,
    pub api: ApiProxy,
    /// Held so the registry process lives as long as the stack.
    _registry: RegistryServer,
    pub plane: DataPlane,
    /// Straight to moto (not counted by the proxy).
    pub direct: EcrClient,
}

impl EcrStack {
    /// `None` when moto is missing outside CI (the test then returns early).
    pub fn start() -> Option<EcrStack> {
        let bin = require_moto()?;
        let moto = Moto::start(&bin);
        let api = ApiProxy::start(&moto.url());
        let registry = RegistryServer::start(RegistryOptions {
            auth: RegistryAuth::Htpasswd(vec![(LOGIN_USER, LOGIN_PASSWORD)]),
            delete_enabled: true,
        });
        let plane = DataPlane::start(&registry.url(), &moto.url());
        let direct = EcrClient::new(&moto.url());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Some(EcrStack {
            rt,
            _moto: moto,
            api,
            _registry: registry,
            plane,
            direct,
        })
    }

    /// The registry host dockhand publishes to (`127.0.0.1:PORT`).
    pub fn host(&self) -> String {
        self.plane.host()
    }

    /// The environment that points dockhand's ECR module at this stack.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_ENDPOINT_URL_ECR".into(), self.api.url()),
            // Never ask an instance metadata service (no traffic off loopback).
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// Puts the [`synthetic_manifest`] of `salt` into `repo` straight into moto, under `tag` or
    /// untagged; returns its digest.
    pub fn put_synthetic(&self, repo: &str, salt: &str, tag: Option<&str>) -> String {
        let (m, d) = synthetic_manifest(salt);
        let (s, v) = self.rt.block_on(self.direct.put_image(
            repo,
            &m,
            "application/vnd.oci.image.manifest.v1+json",
            &d,
            tag,
        ));
        assert_eq!(s, 200, "{v}");
        d
    }

    /// digest → tags in `repo`, as ECR (moto) reports them.
    pub fn images(&self, repo: &str) -> BTreeMap<String, Vec<String>> {
        self.rt.block_on(self.direct.images(repo))
    }

    pub fn repositories(&self) -> Vec<String> {
        self.rt.block_on(self.direct.repositories())
    }
}

// -------------------------------------------------------------------------------------------------
// The in-memory JSON 1.1 fake

#[derive(Clone, Debug)]
struct FakeImage {
    digest: String,
    tags: Vec<String>,
    pushed: f64,
    /// `lastRecordedPullTime`, absent when never pulled.
    pulled: Option<f64>,
    media_type: String,
    manifest: String,
}

#[derive(Default)]
struct FakeRepo {
    images: Vec<FakeImage>,
    immutable: bool,
}

#[derive(Default)]
struct FakeState {
    repos: BTreeMap<String, FakeRepo>,
    calls: Vec<ApiCall>,
    /// Largest page this fake returns, whatever `maxResults` says (AWS may return fewer).
    page_cap: usize,
    faults: Vec<ApiFault>,
}

/// The ECR JSON 1.1 protocol in memory, for what moto does not do (docs/registries.md#test-fakes).
pub struct FakeEcr {
    state: Arc<Mutex<FakeState>>,
    server: BackgroundServer,
}

impl FakeEcr {
    /// `page_cap`: the most images or ids one page holds.
    pub fn start(page_cap: usize) -> FakeEcr {
        let state = Arc::new(Mutex::new(FakeState {
            page_cap,
            ..Default::default()
        }));
        let app = Router::new().fallback(fake_api).with_state(state.clone());
        let server = BackgroundServer::spawn("fake-ecr", bind_loopback(), move |l| async move {
            let _ = axum::serve(l, app).await;
        });
        FakeEcr { state, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn create(&self, repo: &str, immutable: bool) {
        self.state.lock().unwrap().repos.insert(
            repo.into(),
            FakeRepo {
                images: Vec::new(),
                immutable,
            },
        );
    }

    /// Adds an image with tags, pushed `secs` after the epoch (a fraction included).
    pub fn add(&self, repo: &str, digest: &str, tags: &[&str], media_type: &str, manifest: &str) {
        let mut st = self.state.lock().unwrap();
        let n = st.repos.values().map(|r| r.images.len()).sum::<usize>();
        let r = st.repos.get_mut(repo).expect("repository created first");
        r.images.push(FakeImage {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed: 1_700_000_000.25 + n as f64,
            pulled: None,
            media_type: media_type.into(),
            manifest: manifest.into(),
        });
    }

    pub fn add_fault(&self, fault: ApiFault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// Records a pull of `repo@digest` at `secs` (epoch, as ECR's `lastRecordedPullTime`).
    pub fn set_pulled(&self, repo: &str, digest: &str, secs: f64) {
        let mut st = self.state.lock().unwrap();
        let r = st.repos.get_mut(repo).expect("repository created first");
        for i in r.images.iter_mut().filter(|i| i.digest == digest) {
            i.pulled = Some(secs);
        }
    }

    /// digest → sorted tags.
    pub fn images(&self, repo: &str) -> BTreeMap<String, Vec<String>> {
        let st = self.state.lock().unwrap();
        st.repos
            .get(repo)
            .map(|r| {
                r.images
                    .iter()
                    .map(|i| {
                        let mut t = i.tags.clone();
                        t.sort();
                        (i.digest.clone(), t)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn count(&self, action: &str) -> usize {
        self.calls().iter().filter(|c| c.action == action).count()
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn fake_api(State(state): State<Arc<Mutex<FakeState>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let action = action_of(&parts.headers);
    let input: Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
    let mut st = state.lock().unwrap();
    let fault = st
        .faults
        .iter_mut()
        .find(|f| f.action == action && f.times > 0)
        .map(|f| {
            f.times -= 1;
            f.clone()
        });
    let resp = match fault {
        Some(f) => aws_error(f.status, &f.error_type, &f.message),
        None => fake_action(&mut st, &action, &input),
    };
    st.calls.push(ApiCall {
        action,
        body: input,
        status: resp.status().as_u16(),
    });
    resp
}

fn repo_not_found(name: &str) -> Response {
    aws_error(
        400,
        "RepositoryNotFoundException",
        &format!(
            "The repository with name '{name}' does not exist in the registry with id '{ACCOUNT}'"
        ),
    )
}

fn image_json(i: &FakeImage, repo: &str) -> Value {
    let mut v = json!({
        "registryId": ACCOUNT,
        "repositoryName": repo,
        "imageDigest": i.digest,
        "imagePushedAt": i.pushed,
        "imageSizeInBytes": 1234,
        "imageManifestMediaType": i.media_type,
    });
    // docs/registries.md#aws-ecr: `imageTags` is omitted for untagged images, and
    // `lastRecordedPullTime` for images never pulled.
    if !i.tags.is_empty() {
        v["imageTags"] = json!(i.tags);
    }
    if let Some(p) = i.pulled {
        v["lastRecordedPullTime"] = json!(p);
    }
    v
}

/// Index digests that reference `digest` in the repository.
fn referenced_by_index(r: &FakeRepo, digest: &str) -> bool {
    r.images.iter().any(|i| {
        serde_json::from_str::<Value>(&i.manifest)
            .ok()
            .and_then(|m| m["manifests"].as_array().cloned())
            .into_iter()
            .flatten()
            .any(|c| c["digest"] == digest)
    })
}

fn fake_action(st: &mut FakeState, action: &str, input: &Value) -> Response {
    // docs/registries.md#aws-ecr: the account from the host is the registryId; another one is a
    // registry this caller does not have.
    if let Some(id) = input["registryId"].as_str()
        && id != ACCOUNT
    {
        return aws_error(
            400,
            "RepositoryNotFoundException",
            &format!("registry {id} is not this one"),
        );
    }
    let name = input["repositoryName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let page_cap = st.page_cap;
    match action {
        "GetAuthorizationToken" => {
            let token =
                base64::engine::general_purpose::STANDARD.encode("AWS:fake-ecr-password-0123");
            json_response(&json!({"authorizationData": [{
                "authorizationToken": token,
                "expiresAt": now_secs() + 12.0 * 3600.0,
                "proxyEndpoint": format!("https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"),
            }]}))
        }
        "CreateRepository" => {
            if st.repos.contains_key(&name) {
                return aws_error(
                    400,
                    "RepositoryAlreadyExistsException",
                    &format!("The repository with name '{name}' already exists"),
                );
            }
            st.repos.insert(name.clone(), FakeRepo::default());
            json_response(&json!({"repository": {"repositoryName": name, "registryId": ACCOUNT}}))
        }
        "DescribeRepositories" => {
            let names: Vec<String> = input["repositoryNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
            if let Some(missing) = names.iter().find(|n| !st.repos.contains_key(*n)) {
                return repo_not_found(missing);
            }
            let list: Vec<Value> = st
                .repos
                .keys()
                .filter(|k| names.is_empty() || names.contains(k))
                .map(|k| json!({"repositoryName": k, "registryId": ACCOUNT}))
                .collect();
            json_response(&json!({"repositories": list}))
        }
        "DescribeImages" | "ListImages" => {
            let Some(r) = st.repos.get(&name) else {
                return repo_not_found(&name);
            };
            if let Some(ids) = input["imageIds"].as_array() {
                if input.get("nextToken").is_some() || input.get("maxResults").is_some() {
                    return aws_error(
                        400,
                        "InvalidParameterException",
                        "imageIds cannot be combined with nextToken or maxResults",
                    );
                }
                if ids.is_empty() || ids.len() > 100 {
                    return aws_error(400, "InvalidParameterException", "1 to 100 imageIds");
                }
                let mut found = Vec::new();
                for id in ids {
                    let hit = r.images.iter().find(|i| {
                        id["imageDigest"].as_str().is_none_or(|d| d == i.digest)
                            && id["imageTag"]
                                .as_str()
                                .is_none_or(|t| i.tags.iter().any(|x| x == t))
                    });
                    match hit {
                        Some(i) => found.push(image_json(i, &name)),
                        // docs/registries.md#aws-ecr: any missing id fails the whole call.
                        None => {
                            return aws_error(
                                400,
                                "ImageNotFoundException",
                                &format!("The image with imageId {id} does not exist"),
                            );
                        }
                    }
                }
                return json_response(&json!({"imageDetails": found}));
            }
            let max = input["maxResults"].as_u64().unwrap_or(100) as usize;
            if max == 0 || max > 1000 {
                return aws_error(400, "InvalidParameterException", "maxResults 1..=1000");
            }
            let size = max.min(page_cap.max(1));
            let start = match input["nextToken"].as_str() {
                None => 0,
                Some(t) => match t.strip_prefix("page-").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => return aws_error(400, "InvalidParameterException", "bad nextToken"),
                },
            };
            let entries: Vec<Value> = if action == "DescribeImages" {
                r.images.iter().map(|i| image_json(i, &name)).collect()
            } else {
                // ListImages: one entry per tag; untagged images have no imageTag.
                r.images
                    .iter()
                    .flat_map(|i| {
                        if i.tags.is_empty() {
                            vec![json!({"imageDigest": i.digest})]
                        } else {
                            i.tags
                                .iter()
                                .map(|t| json!({"imageDigest": i.digest, "imageTag": t}))
                                .collect()
                        }
                    })
                    .collect()
            };
            let page: Vec<Value> = entries.iter().skip(start).take(size).cloned().collect();
            let key = if action == "DescribeImages" {
                "imageDetails"
            } else {
                "imageIds"
            };
            let mut v = json!({ key: page });
            if start + size < entries.len() {
                v["nextToken"] = json!(format!("page-{}", start + size));
            }
            json_response(&v)
        }
        "PutImage" => {
            let Some(r) = st.repos.get_mut(&name) else {
                return repo_not_found(&name);
            };
            let digest = input["imageDigest"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let tag = input["imageTag"].as_str().map(str::to_string);
            if let Some(t) = &tag {
                let elsewhere = r
                    .images
                    .iter()
                    .any(|i| i.digest != digest && i.tags.contains(t));
                if elsewhere && r.immutable {
                    return aws_error(
                        400,
                        "ImageTagAlreadyExistsException",
                        &format!(
                            "The image tag '{t}' already exists and cannot be overwritten because the repository is immutable."
                        ),
                    );
                }
                for i in r.images.iter_mut() {
                    i.tags.retain(|x| x != t);
                }
            }
            let manifest = input["imageManifest"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let media_type = input["imageManifestMediaType"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match r.images.iter_mut().find(|i| i.digest == digest) {
                Some(i) => i.tags.extend(tag),
                None => r.images.push(FakeImage {
                    digest: digest.clone(),
                    tags: tag.into_iter().collect(),
                    pushed: now_secs(),
                    pulled: None,
                    media_type,
                    manifest,
                }),
            }
            json_response(&json!({"image": {"imageId": {"imageDigest": digest}}}))
        }
        "BatchDeleteImage" => {
            let ids = input["imageIds"].as_array().cloned().unwrap_or_default();
            // docs/registries.md#aws-ecr: 1–100 ids per call.
            if ids.is_empty() || ids.len() > 100 {
                return aws_error(
                    400,
                    "InvalidParameterException",
                    &format!("imageIds must hold 1 to 100 ids (got {})", ids.len()),
                );
            }
            let Some(r) = st.repos.get_mut(&name) else {
                return repo_not_found(&name);
            };
            let mut deleted = Vec::new();
            let mut failures = Vec::new();
            let fail = |id: &Value, code: &str, reason: &str| json!({"imageId": id, "failureCode": code, "failureReason": reason});
            for id in &ids {
                let digest = id["imageDigest"].as_str();
                let tag = id["imageTag"].as_str();
                match (digest, tag) {
                    (None, None) => failures.push(fail(id, "MissingDigestAndTag", "no id")),
                    (Some(d), None) => {
                        if !r.images.iter().any(|i| i.digest == d) {
                            failures.push(fail(id, "ImageNotFound", "Requested image not found"));
                        } else if referenced_by_index(r, d) {
                            failures.push(fail(
                                id,
                                "ImageReferencedByManifestList",
                                "Requested image is referenced by an image index",
                            ));
                        } else {
                            let i = r.images.iter().position(|i| i.digest == d).unwrap();
                            let image = r.images.remove(i);
                            if image.tags.is_empty() {
                                deleted.push(json!({"imageDigest": d}));
                            }
                            for t in image.tags {
                                deleted.push(json!({"imageDigest": d, "imageTag": t}));
                            }
                        }
                    }
                    (d, Some(t)) => {
                        let Some(pos) = r.images.iter().position(|i| i.tags.iter().any(|x| x == t))
                        else {
                            failures.push(fail(id, "ImageNotFound", "Requested image not found"));
                            continue;
                        };
                        if d.is_some_and(|d| d != r.images[pos].digest) {
                            failures.push(fail(
                                id,
                                "ImageTagDoesNotMatchDigest",
                                "Invalid parameter: the tag does not match the digest",
                            ));
                            continue;
                        }
                        let digest = r.images[pos].digest.clone();
                        r.images[pos].tags.retain(|x| x != t);
                        // The last tag takes the image with it
                        // (https://docs.aws.amazon.com/cli/latest/reference/ecr/batch-delete-image.html).
                        if r.images[pos].tags.is_empty() {
                            r.images.remove(pos);
                        }
                        deleted.push(json!({"imageDigest": digest, "imageTag": t}));
                    }
                }
            }
            json_response(&json!({"imageIds": deleted, "failures": failures}))
        }
        other => aws_error(
            400,
            "UnknownOperationException",
            &format!("this fake does not implement {other}"),
        ),
    }
}
