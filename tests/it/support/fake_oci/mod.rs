//! A faithful in-memory OCI Distribution registry for integration tests
//! (docs/registries.md#the-shared-oci-data-plane for the wire protocol, #test-fakes for what
//! the fakes reproduce). Vendor fakes (ghcr, Docker Hub, GitLab, ACR, GCR/AR, Harbor,
//! Quay) build on it with a [`Profile`] (switches + hooks) and extra axum
//! routes served on the same host. Anything the real protocol rejects, it
//! rejects: unknown blobs or children in a manifest, a `Content-Type` that is
//! not the manifest's `mediaType`, digest mismatches, stale upload
//! `Location`s, out-of-order chunks, missing token scopes.
//!
//! # Use
//!
//! ```ignore
//! use support::fake_oci::*;
//!
//! // Presets: Profile::distribution() (spec v1.1 / distribution 3.x),
//! // Profile::distribution_2_8() (as observed, docs/registries.md#real-servers-in-the-tests),
//! // Profile::oci_1_1() (with referrers). Change any field with struct update syntax.
//! let fake = FakeOci::start(Profile {
//!     tag_paging: TagPaging::FixedPage { size: 50 },
//!     ..Profile::distribution().with_auth(Auth::bearer_users(
//!         &[("ci", "pw", Grants::all())],
//!         Some(Grants::none().allow("public/*", &["pull"])),
//!     ))
//! });
//! // Seed without HTTP …
//! let digest = fake.with_store(|s| s.seed_image("team/app", Some("v1"), &[b"layer"], "2024-01-01T00:00:00Z"));
//! // … or over HTTP with the harness client (RegistryClient, push_image, push_index),
//! // or run dockhand at `fake.host()` with `--implementation default`.
//! fake.set_pushed("team/app", &digest, std::time::UNIX_EPOCH);
//! assert_eq!(fake.tags("team/app"), ["v1"]);
//! assert!(fake.requests().iter().any(|r| r.method == "GET" && r.path == "/v2/"));
//! ```
//!
//! # Extending for a vendor
//!
//! ```ignore
//! #[derive(Default)]
//! struct Versions(Vec<String>); // vendor records live in the store: Store::ext_mut
//!
//! let mut profile = Profile { tag_delete: TagDelete::Unsupported, ..Profile::distribution() };
//! profile.hooks.on_manifest_put = Some(Arc::new(|s: &mut Store, _repo: &str, digest: &str, _tag: Option<&str>| {
//!     s.ext_mut::<Versions>().0.push(digest.into());
//! }));
//! let fake = FakeOci::start_with(profile, |h: FakeHandle| {
//!     // Vendor API on the registry host; `h` gives the store, the URL,
//!     // `authorize` (the profile's auth) and `issue_token`.
//!     Router::new().route("/api/versions", get(move || { let h = h.clone(); async move {
//!         Json(h.with_store(|s| s.ext::<Versions>().map_or(0, |v| v.0.len())))
//!     }}))
//! });
//! ```
//!
//! Other hooks: `on_manifest_delete`, `on_tag_delete`, `check_manifest_put`
//! and `check_delete` (vetoes, e.g. immutable tags), `tags_list`
//! (post-process the body, e.g. GCR's `manifest` map), `on_response`
//! (rate-limit headers), `v2_override` (answer any `/v2/` request first,
//! e.g. GitLab's `tags/reference`). Faults: [`FakeHandle::fail_next`] with
//! a [`FaultRule`] (429 with `Retry-After` in seconds or as an HTTP date,
//! any status, plain-text bodies). A profile can be changed while the
//! server runs ([`FakeHandle::update_profile`]).
//!
//! # Runtime
//!
//! Like the other in-process servers of the harness, it runs on its own
//! thread with its own Tokio runtime (see `bg.rs`), so it serves `#[test]`s
//! that block on a child process and `#[tokio::test]`s alike, and it stops on
//! drop. It listens on 127.0.0.1 only, plain HTTP (dockhand talks plain HTTP
//! to loopback hosts).
//!
//! Locking: the store is one `std::sync::Mutex`, never held across an
//! `.await`; hooks run with it held, so they must not lock it again (no
//! `FakeHandle::with_store` inside a hook; use the `&mut Store` given).

mod auth;
mod error;
mod profile;
mod server;
mod store;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::Method;

pub use auth::{Need, TokenInfo, resolve_scopes};
pub use error::{OciError, Refusal};
pub use profile::{
    Auth, BearerAuth, Credentials, DigestDelete, Grants, Hooks, MountWithoutFrom, Profile,
    TagDelete, TagPaging, TokenFields, V2Override, V2Request,
};
pub use store::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, SharedStore, Store, StoredManifest, is_digest,
    sha256_digest,
};

use super::bg::BackgroundServer;
use super::ports::bind_loopback;

/// One request the server answered (vendor routes and the token endpoint
/// included), in arrival order of completion.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path as sent (percent-encoding kept).
    pub path: String,
    pub query: Option<String>,
    /// Selected request headers (lower-case names): accept, content-type,
    /// content-length, content-range, range, if-none-match, user-agent.
    pub headers: Vec<(String, String)>,
    /// The `Authorization` value, if one was sent.
    pub authorization: Option<String>,
    pub status: u16,
    /// Selected response headers (lower-case names): location,
    /// docker-content-digest, content-type, content-length, www-authenticate,
    /// range, link, oci-subject, retry-after, docker-upload-uuid.
    pub response_headers: Vec<(String, String)>,
}

impl LoggedRequest {
    /// Whether `Authorization` was sent.
    pub fn has_auth(&self) -> bool {
        self.authorization.is_some()
    }

    /// The auth scheme sent (`basic`, `bearer`), lower case.
    pub fn auth_scheme(&self) -> Option<String> {
        self.authorization
            .as_deref()
            .and_then(|a| a.split(' ').next())
            .map(str::to_ascii_lowercase)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn response_header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.response_headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `METHOD path` (for assertions and messages).
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// `Retry-After` of an injected 429 (docs/registries.md#rate-limits-and-redirects: seconds or an
/// HTTP date).
#[derive(Clone, Debug, PartialEq)]
pub enum RetryAfter {
    Seconds(u64),
    /// An IMF-fixdate this far in the future.
    HttpDate(Duration),
}

/// What an injected fault answers.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// 429 `TOOMANYREQUESTS` with the `Retry-After`.
    TooManyRequests(RetryAfter),
    /// This status with a plain-text body (proxies, router errors;
    /// docs/registries.md#test-fakes).
    PlainText(u16, String),
}

/// Answer the next `count` requests matching `method` (any when None) whose
/// path contains `path_contains` with `action`, before auth and handlers.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub method: Option<Method>,
    pub path_contains: String,
    pub count: usize,
    pub action: FaultAction,
}

impl FaultRule {
    pub fn new(
        method: Option<Method>,
        path_contains: &str,
        count: usize,
        action: FaultAction,
    ) -> Self {
        FaultRule {
            method,
            path_contains: path_contains.into(),
            count,
            action,
        }
    }

    /// `count` × 429 on paths containing `path_contains`, any method.
    pub fn too_many(path_contains: &str, count: usize, retry_after: RetryAfter) -> Self {
        FaultRule::new(
            None,
            path_contains,
            count,
            FaultAction::TooManyRequests(retry_after),
        )
    }
}

pub(crate) struct Shared {
    store: SharedStore,
    profile: RwLock<Profile>,
    addr: SocketAddr,
    tokens: Mutex<std::collections::HashMap<String, TokenInfo>>,
    refresh_tokens: Mutex<auth::RefreshTokens>,
    log: Mutex<Vec<LoggedRequest>>,
    faults: Mutex<Vec<FaultRule>>,
    /// Opaque `next_page` tokens (Quay paging) → offset.
    page_tokens: Mutex<std::collections::HashMap<String, usize>>,
    /// Port of the redirect target (`Profile::redirect_blobs`), if running.
    storage_port: Option<u16>,
    /// Presigned blob URLs handed out: signature → digest.
    signatures: Mutex<std::collections::HashMap<String, String>>,
    storage_log: Mutex<Vec<LoggedRequest>>,
}

/// A cheap, clonable handle on a running fake: what vendor routes and hooks
/// get, and what [`FakeOci`] dereferences to.
#[derive(Clone)]
pub struct FakeHandle(Arc<Shared>);

impl FakeHandle {
    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.0.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.0.addr)
    }

    /// Runs `f` with the store locked.
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.0.store.lock().unwrap())
    }

    /// A copy of the current profile.
    pub fn profile(&self) -> Profile {
        self.0.profile.read().unwrap().clone()
    }

    /// Changes the profile of the running server (takes effect for the
    /// next request).
    pub fn update_profile(&self, f: impl FnOnce(&mut Profile)) {
        f(&mut self.0.profile.write().unwrap());
    }

    /// Every tag of `repo`, sorted; empty for an unknown repository.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.with_store(|s| s.tags(repo))
    }

    /// The tag → digest map of `repo`.
    pub fn tag_map(&self, repo: &str) -> std::collections::BTreeMap<String, String> {
        self.with_store(|s| s.repo(repo).map(|r| r.tags.clone()).unwrap_or_default())
    }

    /// Every manifest digest of `repo`, sorted.
    pub fn manifest_digests(&self, repo: &str) -> Vec<String> {
        self.with_store(|s| {
            s.repo(repo)
                .map(|r| r.manifests.keys().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// The manifest a tag or digest resolves to.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<StoredManifest> {
        self.with_store(|s| {
            let r = s.repo(repo)?;
            let d = r.resolve(reference)?;
            r.manifests.get(&d).cloned()
        })
    }

    /// Whether `repo` may serve blob `digest`.
    pub fn has_blob(&self, repo: &str, digest: &str) -> bool {
        self.with_store(|s| s.blob(repo, digest).is_some())
    }

    /// Sets the push time of a manifest (e.g. to make it old); panics if it
    /// is not there.
    pub fn set_pushed(&self, repo: &str, digest: &str, time: SystemTime) {
        self.with_store(|s| {
            s.repos
                .get_mut(repo)
                .and_then(|r| r.manifests.get_mut(digest))
                .unwrap_or_else(|| panic!("set_pushed: no manifest {repo}@{digest}"))
                .pushed = time;
        });
    }

    /// A snapshot of the request log.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.0.log.lock().unwrap().clone()
    }

    /// Requests whose method is `method` and whose path contains `path_part`.
    pub fn requests_matching(&self, method: &str, path_part: &str) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(path_part))
            .collect()
    }

    /// Clears the request log (and the storage log).
    pub fn clear_log(&self) {
        self.0.log.lock().unwrap().clear();
        self.0.storage_log.lock().unwrap().clear();
    }

    /// Requests the redirect target of `Profile::redirect_blobs` received.
    pub fn storage_requests(&self) -> Vec<LoggedRequest> {
        self.0.storage_log.lock().unwrap().clone()
    }

    /// Adds a fault rule (see [`FaultRule`]); rules are tried in order.
    pub fn fail_next(&self, rule: FaultRule) {
        self.0.faults.lock().unwrap().push(rule);
    }
}

/// A running fake registry; stops on drop. Dereferences to [`FakeHandle`]
/// for the inspection API.
pub struct FakeOci {
    handle: FakeHandle,
    _server: BackgroundServer,
    _storage: Option<BackgroundServer>,
}

impl Deref for FakeOci {
    type Target = FakeHandle;
    fn deref(&self) -> &FakeHandle {
        &self.handle
    }
}

impl FakeOci {
    /// Starts a fake with `profile` on a free loopback port.
    pub fn start(profile: Profile) -> FakeOci {
        FakeOci::start_with(profile, |_| Router::new())
    }

    /// Starts a fake whose server also serves the routes `extra` builds (a
    /// vendor API on the registry host, e.g. Harbor's `/api/v2.0`). `extra`
    /// gets the handle (store, URL, token minting) and returns a
    /// `Router<()>` (state already applied). Its routes take precedence over
    /// the registry's, which answer everything else; they are logged and
    /// subject to faults like the rest.
    pub fn start_with(profile: Profile, extra: impl FnOnce(FakeHandle) -> Router) -> FakeOci {
        let listener = bind_loopback();
        let addr = listener.local_addr().expect("listener address");
        let storage_listener = profile.redirect_blobs.then(bind_loopback);
        let storage_port = storage_listener
            .as_ref()
            .map(|l| l.local_addr().expect("storage address").port());
        let handle = FakeHandle(Arc::new(Shared {
            store: SharedStore::default(),
            profile: RwLock::new(profile),
            addr,
            tokens: Mutex::default(),
            refresh_tokens: Mutex::default(),
            log: Mutex::default(),
            faults: Mutex::default(),
            page_tokens: Mutex::default(),
            storage_port,
            signatures: Mutex::default(),
            storage_log: Mutex::default(),
        }));
        let storage = storage_listener.map(|l| {
            let app = server::storage_router(handle.clone());
            BackgroundServer::spawn("fake-oci-storage", l, move |l| async move {
                let _ = axum::serve(l, app).await;
            })
        });
        let app = server::router(handle.clone(), extra(handle.clone()));
        let server = BackgroundServer::spawn("fake-oci", listener, move |l| async move {
            let _ = axum::serve(l, app).await;
        });
        FakeOci {
            handle,
            _server: server,
            _storage: storage,
        }
    }

    /// The handle (clonable, e.g. to move into a hook).
    pub fn handle(&self) -> FakeHandle {
        self.handle.clone()
    }
}
