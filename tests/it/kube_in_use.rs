//! `--keep-in-use kubernetes`, library part: `dockhand::kube::collect` against fake Kubernetes
//! API servers on loopback.
//!
//! Each fake enforces bearer-token auth (401 otherwise) and serves the workload lists of
//! https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks:
//! pages of at most 2 items, an opaque `continue` token, 410 Gone for a token it does not know.
//! The kubeconfigs speak plain `http://` (the fakes are axum, as the other fakes of the suite).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use dockhand::Kind;
use dockhand::cleanup::model::{Inventory, ManifestInfo};
use dockhand::cleanup::plan::{PolicyInput, plan};
use dockhand::kube::{Contexts, HttpOptions, collect};

const D_API: &str = "sha256:a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const D_WEB: &str = "sha256:b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const ALPHA_TOKEN: &str = "alpha-static-token-0001";
const BETA_TOKEN: &str = "beta-exec-token-0002";

// ---------------------------------------------------------------------------------------------
// The fake API server.

struct FakeState {
    /// The bearer token required; `None` when a verified client certificate is (TLS fake).
    token: Option<String>,
    lists: HashMap<String, Vec<Value>>,
    /// Continue tokens issued: token → (path, offset).
    continues: Mutex<HashMap<String, (String, usize)>>,
    issued: AtomicUsize,
    /// `path?query` of every request, in order.
    log: Mutex<Vec<String>>,
    /// The next request with a valid continue token is answered 410 (the token "expired").
    expire_next: AtomicBool,
}

const PAGE: usize = 2;

async fn handle(State(s): State<Arc<FakeState>>, uri: Uri, headers: HeaderMap) -> Response {
    s.log.lock().unwrap().push(uri.to_string());
    let status = |code: StatusCode, reason: &str, message: &str| {
        (
            code,
            axum::Json(json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "code": code.as_u16(), "reason": reason, "message": message,
            })),
        )
            .into_response()
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(token) = &s.token
        && auth != format!("Bearer {token}")
    {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let path = uri.path().to_string();
    let Some(items) = s.lists.get(&path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find it",
        );
    };
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX)
        .min(PAGE);
    let offset = match query.get("continue") {
        None => 0,
        Some(t) => {
            let known = s.continues.lock().unwrap().get(t).cloned();
            match known {
                Some((p, o)) if p == path => {
                    if s.expire_next.swap(false, Ordering::SeqCst) {
                        return status(
                            StatusCode::GONE,
                            "Expired",
                            "The provided continue parameter is too old",
                        );
                    }
                    o
                }
                _ => {
                    return status(
                        StatusCode::GONE,
                        "Expired",
                        "The provided continue parameter is too old",
                    );
                }
            }
        }
    };
    let end = (offset + limit).min(items.len());
    let mut metadata = json!({"resourceVersion": "1000"});
    if end < items.len() {
        let n = s.issued.fetch_add(1, Ordering::SeqCst);
        let token = format!("opaque-{n:04x}-{:x}", path.len() * 7919 + end);
        s.continues
            .lock()
            .unwrap()
            .insert(token.clone(), (path.clone(), end));
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(items.len() - end);
    }
    axum::Json(json!({
        "kind": "List", "apiVersion": "v1",
        "metadata": metadata,
        "items": items[offset..end],
    }))
    .into_response()
}

/// A fake API server on its own thread and runtime; stops on drop.
struct FakeKube {
    port: u16,
    state: Arc<FakeState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const PATHS: [&str; 7] = [
    "/api/v1/pods",
    "/apis/apps/v1/deployments",
    "/apis/apps/v1/statefulsets",
    "/apis/apps/v1/daemonsets",
    "/apis/apps/v1/replicasets",
    "/apis/batch/v1/jobs",
    "/apis/batch/v1/cronjobs",
];

impl FakeKube {
    /// Serves `lists` (path → items); every other workload list is empty.
    fn start(token: &str, lists: Vec<(&str, Vec<Value>)>) -> FakeKube {
        Self::start_with(Some(token), None, lists)
    }

    /// `tls`: serve HTTPS with this configuration (it checks client certificates; no bearer).
    fn start_with(
        token: Option<&str>,
        tls: Option<Arc<rustls::ServerConfig>>,
        lists: Vec<(&str, Vec<Value>)>,
    ) -> FakeKube {
        let mut all: HashMap<String, Vec<Value>> =
            PATHS.iter().map(|p| (p.to_string(), Vec::new())).collect();
        for (p, items) in lists {
            all.insert(p.to_string(), items);
        }
        let state = Arc::new(FakeState {
            token: token.map(str::to_string),
            lists: all,
            continues: Mutex::new(HashMap::new()),
            issued: AtomicUsize::new(1),
            log: Mutex::new(Vec::new()),
            expire_next: AtomicBool::new(false),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let tcp = tokio::net::TcpListener::from_std(listener).unwrap();
                match tls {
                    None => tokio::select! {
                        _ = axum::serve(tcp, app) => {}
                        _ = stopped => {}
                    },
                    Some(config) => {
                        let listener = TlsListener {
                            tcp,
                            acceptor: tokio_rustls::TlsAcceptor::from(config),
                        };
                        tokio::select! {
                            _ = axum::serve(listener, app) => {}
                            _ = stopped => {}
                        }
                    }
                }
            });
        });
        FakeKube {
            port,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests for `path`, as `path?query`.
    fn requests(&self, path: &str) -> Vec<String> {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(&format!("{path}?")) || *r == path)
            .cloned()
            .collect()
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts TCP connections and completes the TLS handshake; failed handshakes are dropped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A certificate authority, a server certificate for `kube.test` and a client certificate,
/// as PEM; and the server's TLS configuration (client certificates required, from that CA).
struct Pki {
    ca: String,
    client_cert: String,
    client_key: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fake kube CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut sp = CertificateParams::new(vec!["kube.test".to_string()]).unwrap();
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = sp.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name.push(DnType::CommonName, "dockhand");
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = cp.signed_by(&client_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_cert.der().to_vec()))
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    Pki {
        ca: ca_cert.pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
        server: Arc::new(server),
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// Workloads.

fn pod(name: &str, image: &str, image_id: Option<&str>) -> Value {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "main", "image": image}]},
    });
    if let Some(id) = image_id {
        p["status"] =
            json!({"containerStatuses": [{"name": "main", "image": image, "imageID": id}]});
    }
    p
}

fn cronjob(name: &str, image: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "batch"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "job", "image": image}],
            "restartPolicy": "OnFailure",
        }}}}},
    })
}

/// Cluster alpha: a cronjob's template runs `team/report:nightly`; 3 cronjobs and 5 pods, so
/// both lists take more than one page.
fn alpha() -> FakeKube {
    FakeKube::start(
        ALPHA_TOKEN,
        vec![
            (
                "/apis/batch/v1/cronjobs",
                vec![
                    cronjob("cleanup", "busybox:1.36"),
                    cronjob("backup", "docker.io/library/alpine:3.20"),
                    cronjob("report", "registry.example:5000/team/report:nightly"),
                ],
            ),
            (
                "/api/v1/pods",
                (0..5)
                    .map(|i| pod(&format!("web-{i}"), "nginx:1.27", None))
                    .collect(),
            ),
        ],
    )
}

/// Cluster beta: a pod runs `team/api` by digest; another runs `team/web:v2`, whose running
/// digest (imageID) is pinned; a deployment template with an init container.
fn beta() -> FakeKube {
    FakeKube::start(
        BETA_TOKEN,
        vec![
            (
                "/api/v1/pods",
                vec![
                    pod(
                        "api-0",
                        &format!("registry.example:5000/team/api@{D_API}"),
                        Some(&format!(
                            "docker-pullable://registry.example:5000/team/api@{D_API}"
                        )),
                    ),
                    pod(
                        "web-0",
                        "registry.example:5000/team/web:v2",
                        Some(&format!("registry.example:5000/team/web@{D_WEB}")),
                    ),
                    pod("redis-0", "redis:7", None),
                ],
            ),
            (
                "/apis/apps/v1/deployments",
                vec![json!({
                    "metadata": {"name": "worker", "namespace": "default"},
                    "spec": {"template": {"spec": {
                        "initContainers": [{"name": "migrate", "image": "ghcr.io/acme/migrate:5"}],
                        "containers": [{"name": "worker", "image": "ghcr.io/acme/worker:5"}],
                    }}},
                })],
            ),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Kubeconfigs.

/// Two files, as `KUBECONFIG=a/config:b/config`: `a` holds context alpha (a token file, relative
/// path); `b` holds beta and beta-again (one exec plugin user, relative command), an `alpha` of
/// its own that must lose to `a`'s, and gamma (`gamma_port`, nothing listening).
fn kubeconfigs(dir: &Path, alpha: &str, beta: &str, gamma_port: u16) -> Vec<PathBuf> {
    let a = dir.join("a");
    let b = dir.join("b");
    std::fs::create_dir_all(a.join("secrets")).unwrap();
    std::fs::create_dir_all(b.join("plugins")).unwrap();
    std::fs::write(a.join("secrets/alpha-token"), format!("{ALPHA_TOKEN}\n")).unwrap();
    std::fs::write(
        a.join("config"),
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: alpha\n\
             clusters:\n- name: alpha\n  cluster:\n    server: {alpha}\n\
             users:\n- name: alpha-user\n  user:\n    tokenFile: secrets/alpha-token\n\
             contexts:\n- name: alpha\n  context: {{cluster: alpha, user: alpha-user}}\n"
        ),
    )
    .unwrap();
    let plugin = b.join("plugins/token.sh");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\n\
             [ -n \"$KUBERNETES_EXEC_INFO\" ] || {{ echo 'no KUBERNETES_EXEC_INFO' >&2; exit 1; }}\n\
             echo \"$REGION $*\" >> \"$(dirname \"$0\")/calls\"\n\
             cat <<'EOF'\n\
             {{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"{BETA_TOKEN}\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}}}\n\
             EOF\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        b.join("config"),
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: beta\n\
             clusters:\n\
             - name: beta\n  cluster: {{server: '{beta}'}}\n\
             - name: gamma\n  cluster: {{server: 'http://127.0.0.1:{gamma_port}'}}\n\
             - name: alpha\n  cluster: {{server: 'http://127.0.0.1:{gamma_port}'}}\n\
             users:\n\
             - name: exec-user\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n\
             \x20     command: ./plugins/token.sh\n      args: [--cluster, beta]\n\
             \x20     env: [{{name: REGION, value: eu}}]\n\
             - name: gamma-user\n  user: {{token: gamma-token-0003}}\n\
             contexts:\n\
             - name: beta\n  context: {{cluster: beta, user: exec-user}}\n\
             - name: beta-again\n  context: {{cluster: beta, user: exec-user}}\n\
             - name: gamma\n  context: {{cluster: gamma, user: gamma-user}}\n\
             - name: alpha\n  context: {{cluster: alpha, user: gamma-user}}\n"
        ),
    )
    .unwrap();
    vec![a.join("config"), b.join("config")]
}

fn named(names: &[&str]) -> Contexts {
    Contexts::Named(names.iter().map(|n| n.to_string()).collect())
}

fn options() -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        ..HttpOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn two_contexts_cronjob_template_and_pod_digest_are_in_use() {
    let (a, b) = (alpha(), beta());
    let dir = tempfile::tempdir().unwrap();
    let paths = kubeconfigs(dir.path(), &a.url(), &b.url(), closed_port());

    let in_use = collect(
        &paths,
        &named(&["alpha", "beta", "beta-again"]),
        false,
        &options(),
    )
    .await
    .unwrap();

    let refs = &in_use.images.references;
    assert!(
        refs.contains("registry.example:5000/team/report:nightly"),
        "{refs:#?}"
    );
    assert!(refs.contains("docker.io/library/busybox:1.36"));
    assert!(refs.contains("docker.io/library/nginx:1.27"));
    assert!(refs.contains("registry.example:5000/team/web:v2"));
    assert!(refs.contains("ghcr.io/acme/migrate:5") && refs.contains("ghcr.io/acme/worker:5"));
    assert_eq!(
        in_use.images.digests,
        BTreeSet::from([D_API.to_string(), D_WEB.to_string()])
    );
    assert!(in_use.images.unparsed.is_empty());
    assert!(in_use.skipped.is_empty());

    // Per-context counts, in the order asked.
    let names: Vec<_> = in_use.contexts.iter().map(|c| c.context.as_str()).collect();
    assert_eq!(names, vec!["alpha", "beta", "beta-again"]);
    let alpha_report = &in_use.contexts[0];
    assert_eq!(
        alpha_report.images.workloads[&dockhand::kube::Workload::CronJob],
        3
    );
    assert_eq!(
        alpha_report.images.workloads[&dockhand::kube::Workload::Pod],
        5
    );
    // 5 empty lists, cronjobs in 2 pages, pods in 3.
    assert_eq!(alpha_report.pages, 5 + 2 + 3);
    assert!(!in_use.contexts[0].images.digests.contains(D_API));
    assert!(in_use.contexts[1].images.digests.contains(D_API));
    let summary = in_use.summary().join("\n");
    assert!(
        summary.contains("context alpha:") && summary.contains("3 cronjobs"),
        "{summary}"
    );

    // The pagination was followed: `limit` on every request, then each continue token once.
    let cron = a.requests("/apis/batch/v1/cronjobs");
    assert_eq!(cron.len(), 2, "{cron:?}");
    assert_eq!(cron[0], "/apis/batch/v1/cronjobs?limit=500");
    assert!(
        cron[1].starts_with("/apis/batch/v1/cronjobs?limit=500&continue=opaque-"),
        "{cron:?}"
    );
    let pods = a.requests("/api/v1/pods");
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert_ne!(pods[1], pods[2], "each page has its own token");
    // Every list of every context, and nothing else (`alpha` of file b was never used).
    assert_eq!(a.state.log.lock().unwrap().len(), 10);
    assert_eq!(b.requests("/api/v1/pods").len(), 2 * 2);

    // The exec plugin ran once for the two contexts that share its user (cached within the run,
    // its credential expiring in 2099), with the kubeconfig's arguments and environment.
    let calls = std::fs::read_to_string(dir.path().join("b/plugins/calls")).unwrap();
    assert_eq!(calls, "eu --cluster beta\n");
}

#[tokio::test]
async fn all_contexts_by_default_first_file_wins() {
    let (a, b) = (alpha(), beta());
    let dir = tempfile::tempdir().unwrap();
    let gamma = FakeKube::start("gamma-token-0003", vec![]);
    let paths = kubeconfigs(dir.path(), &a.url(), &b.url(), gamma.port);
    let in_use = collect(&paths, &Contexts::All, false, &options())
        .await
        .unwrap();
    let names: Vec<_> = in_use.contexts.iter().map(|c| c.context.as_str()).collect();
    assert_eq!(names, vec!["alpha", "beta", "beta-again", "gamma"]);
    // File a's alpha (cluster alpha, token file) won over file b's.
    assert_eq!(a.state.log.lock().unwrap().len(), 10);
    assert_eq!(gamma.state.log.lock().unwrap().len(), 7);
}

#[tokio::test]
async fn an_unreachable_context_fails_closed_or_is_skipped_when_asked() {
    let a = alpha();
    let dir = tempfile::tempdir().unwrap();
    let paths = kubeconfigs(dir.path(), &a.url(), "http://127.0.0.1:1", closed_port());

    let e = collect(&paths, &named(&["alpha", "gamma"]), false, &options())
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Operation);
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.message.contains("context gamma") && e.message.contains("unreachable"),
        "{e}"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("--skip-unreachable-clusters")
    );

    let in_use = collect(&paths, &named(&["alpha", "gamma"]), true, &options())
        .await
        .unwrap();
    assert_eq!(in_use.skipped.len(), 1);
    assert_eq!(in_use.skipped[0].context, "gamma");
    assert!(in_use.skipped[0].reason.contains("unreachable"));
    assert!(
        in_use
            .images
            .references
            .contains("registry.example:5000/team/report:nightly")
    );
    assert!(
        in_use
            .summary()
            .iter()
            .any(|l| l.starts_with("context gamma skipped"))
    );

    // Skipping every context leaves nothing known: still an error.
    let e = collect(&paths, &named(&["gamma"]), true, &options())
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Operation);
    assert!(e.message.contains("gamma"), "{e}");
}

#[tokio::test]
async fn a_refused_token_is_an_auth_error_naming_the_context_and_never_skipped() {
    let a = alpha();
    let dir = tempfile::tempdir().unwrap();
    // gamma's cluster is alpha's server, but gamma's token is not alpha's.
    let paths = kubeconfigs(dir.path(), &a.url(), "http://127.0.0.1:1", a.port);
    for skip in [false, true] {
        let e = collect(&paths, &named(&["gamma"]), skip, &options())
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::Auth, "{e}");
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.message.contains("context gamma") && e.message.contains("401"),
            "{e}"
        );
        assert!(!e.to_string().contains("gamma-token-0003"), "{e}");
    }
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list_once() {
    let a = alpha();
    a.state.expire_next.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let paths = kubeconfigs(dir.path(), &a.url(), "http://127.0.0.1:1", closed_port());
    let in_use = collect(&paths, &named(&["alpha"]), false, &options())
        .await
        .unwrap();
    // Pods (the first list) got 410 on page 2, and were read again from the start: 5 pods, not 7.
    let pods = a.requests("/api/v1/pods");
    assert_eq!(pods.len(), 2 + 3, "{pods:?}");
    assert_eq!(pods[2], "/api/v1/pods?limit=500");
    assert_eq!(
        in_use.contexts[0].images.workloads[&dockhand::kube::Workload::Pod],
        5
    );
}

#[tokio::test]
async fn bad_kubeconfig_is_input_naming_file_context_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let paths = kubeconfigs(dir.path(), "http://127.0.0.1:1", "http://127.0.0.1:1", 1);
    let e = collect(&paths, &named(&["nope"]), false, &options())
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Input);
    assert!(e.message.contains("\"nope\""), "{e}");

    std::fs::remove_file(dir.path().join("a/secrets/alpha-token")).unwrap();
    let e = collect(&paths, &named(&["alpha"]), false, &options())
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Input);
    let file = dir.path().join("a/config");
    assert!(
        e.message.contains(&file.display().to_string())
            && e.message.contains("context alpha")
            && e.message.contains("tokenFile"),
        "{e}"
    );
}

/// The planner keeps what runs (by reference and by digest) and deletes what does not.
#[tokio::test]
async fn the_planner_keeps_images_in_use_and_deletes_the_rest() {
    let (a, b) = (alpha(), beta());
    let dir = tempfile::tempdir().unwrap();
    let paths = kubeconfigs(dir.path(), &a.url(), &b.url(), closed_port());
    let in_use = collect(&paths, &named(&["alpha", "beta"]), false, &options())
        .await
        .unwrap();

    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let old = now - Duration::from_secs(90 * 86_400);
    let d = |n: u32| format!("sha256:{n:064x}");
    let repo = |name: &str, tags: &[(&str, &str)]| {
        let mut inv = Inventory {
            repository: format!("registry.example:5000/team/{name}"),
            ..Default::default()
        };
        for (tag, digest) in tags {
            inv.tags.insert(tag.to_string(), digest.to_string());
            inv.manifests.insert(
                digest.to_string(),
                ManifestInfo {
                    digest: digest.to_string(),
                    media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                    pushed: Some(old),
                    ..Default::default()
                },
            );
        }
        inv
    };
    let inventories = vec![
        // nightly: the cronjob's template; weekly: nothing.
        repo("report", &[("nightly", &d(1)), ("weekly", &d(2))]),
        // v1 runs by digest; v0 does not.
        repo("api", &[("v1", D_API), ("v0", &d(3))]),
        // v2 is referenced by tag; v1 holds the digest that actually runs.
        repo("web", &[("v2", &d(4)), ("v1", D_WEB), ("v0", &d(5))]),
    ];
    let scopes: Vec<_> = ["report", "api", "web"]
        .iter()
        .map(|n| dockhand::cleanup::model::ImageScope {
            image: Some(n.to_string()),
            repository: format!("registry.example:5000/team/{n}"),
            prefix: None,
        })
        .collect();
    let policy = PolicyInput {
        keep_last: Some(0),
        untag_possible: true,
        keep_list: in_use.keep_list(),
        ..Default::default()
    };
    let p = plan(&inventories, &scopes, &policy, now);
    let deleted: BTreeSet<_> = p.deletions().map(|t| t.tag.as_str()).collect();
    assert_eq!(deleted, BTreeSet::from(["weekly", "v0"]), "{p:#?}");
    assert_eq!(p.deletions().count(), 3, "api:v0, web:v0, report:weekly");
    for t in p.tags.iter().filter(|t| !deleted.contains(t.tag.as_str())) {
        // The reason names where the image is used, not just "keep list".
        assert!(t.reason.contains("in use on Kubernetes (context"), "{t:?}");
    }
}

/// TLS: the CA from a relative `certificate-authority` file, `tls-server-name` (the certificate
/// names `kube.test`, the server is `https://127.0.0.1:PORT`), a client certificate from a file
/// and its key as `-data`; the same server without the CA is refused and fails closed.
#[tokio::test]
async fn tls_with_the_kubeconfigs_ca_server_name_and_client_certificate() {
    let pki = pki();
    let fake = FakeKube::start_with(
        None,
        Some(pki.server.clone()),
        vec![(
            "/apis/apps/v1/daemonsets",
            vec![json!({
                "metadata": {"name": "agent", "namespace": "kube-system"},
                "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "quay.io/acme/agent:3"}]}}},
            })],
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pki")).unwrap();
    std::fs::write(dir.path().join("pki/ca.pem"), &pki.ca).unwrap();
    std::fs::write(dir.path().join("pki/client.pem"), &pki.client_cert).unwrap();
    let config = dir.path().join("config");
    let server = format!("https://127.0.0.1:{}", fake.port);
    std::fs::write(
        &config,
        format!(
            "clusters:\n\
             - name: secure\n  cluster: {{server: '{server}', certificate-authority: pki/ca.pem, tls-server-name: kube.test}}\n\
             - name: untrusted\n  cluster: {{server: '{server}', tls-server-name: kube.test}}\n\
             users:\n\
             - name: cert\n  user: {{client-certificate: pki/client.pem, client-key-data: {}}}\n\
             contexts:\n\
             - name: secure\n  context: {{cluster: secure, user: cert}}\n\
             - name: untrusted\n  context: {{cluster: untrusted, user: cert}}\n",
            dockhand::kube::client::base64(pki.client_key.as_bytes()),
        ),
    )
    .unwrap();
    let paths = vec![config];

    let in_use = collect(&paths, &named(&["secure"]), false, &options())
        .await
        .unwrap();
    assert_eq!(
        in_use.images.references,
        BTreeSet::from(["quay.io/acme/agent:3".to_string()])
    );
    assert_eq!(fake.state.log.lock().unwrap().len(), 7);

    let e = collect(&paths, &named(&["untrusted"]), false, &options())
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Operation, "{e}");
    assert!(e.message.contains("context untrusted"), "{e}");
    assert!(
        e.message.contains(&server),
        "the kubeconfig's server is named: {e}"
    );
    assert!(
        e.hint.as_deref().unwrap().contains("certificate-authority"),
        "{e}"
    );
    assert_eq!(
        fake.state.log.lock().unwrap().len(),
        7,
        "no request got through"
    );
}

// ---------------------------------------------------------------------------------------------
// The binary: `dockhand cleanup --keep-in-use kubernetes` against a real registry.

/// A kubeconfig with context `prod` (token auth) at `prod`, and, when given, `staging` at
/// `staging` (same user).
fn cli_kubeconfig(file: &Path, prod: &str, staging: Option<&str>) {
    let mut clusters = format!("- name: prod\n  cluster: {{server: '{prod}'}}\n");
    let mut contexts = "- name: prod\n  context: {cluster: prod, user: u}\n".to_string();
    if let Some(s) = staging {
        clusters.push_str(&format!("- name: staging\n  cluster: {{server: '{s}'}}\n"));
        contexts.push_str("- name: staging\n  context: {cluster: staging, user: u}\n");
    }
    std::fs::write(
        file,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n{clusters}\
             users:\n- name: u\n  user: {{token: {ALPHA_TOKEN}}}\ncontexts:\n{contexts}"
        ),
    )
    .unwrap();
}

#[test]
fn cleanup_keeps_the_tags_a_cluster_uses_and_fails_closed_when_one_is_unreachable() {
    use crate::support::client::BlockingClient as Reg;
    use crate::support::report::{entry, set};
    use crate::support::run::dockhand;
    use crate::support::{Creds, RegistryServer};

    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // Oldest first; --keep-last 1 keeps only `new`.
    let by_digest = client.push("app", "old-1", "old one", 4);
    client.push("app", "old-2", "old two", 3);
    client.push("app", "old-3", "old three", 2);
    client.push("app", "new", "new", 1);
    let all_tags = vec!["new", "old-1", "old-2", "old-3"];
    assert_eq!(client.image_tags("app"), all_tags);

    // A pod runs old-1 by digest; a cronjob's template names old-2 by tag.
    let fake = FakeKube::start(
        ALPHA_TOKEN,
        vec![
            (
                "/api/v1/pods",
                vec![pod(
                    "api-0",
                    &format!("{host}/app@{by_digest}"),
                    Some(&format!("{host}/app@{by_digest}")),
                )],
            ),
            (
                "/apis/batch/v1/cronjobs",
                vec![cronjob("nightly", &format!("{host}/app:old-2"))],
            ),
        ],
    );
    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    let one = cwd.join("kube-one");
    cli_kubeconfig(&one, &fake.url(), None);
    let two = cwd.join("kube-two");
    cli_kubeconfig(&two, &fake.url(), Some(&unreachable));

    let run = |kubeconfig: &Path, extra: &[&str]| {
        let mut args = vec![
            "cleanup",
            "-i",
            &host,
            "--image",
            "app",
            "--keep-last",
            "1",
            "--grace",
            "0",
            "--keep-in-use",
            "kubernetes",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        dockhand(&args, cwd)
    };
    // Dry run: the two tags in use are kept, and the report says where they are used.
    let r = run(&one, &["--dry-run"]).ok();
    let doc = r.json();
    assert_eq!(
        crate::support::report::entries(&doc)
            .iter()
            .filter(|e| e["action"] == "delete")
            .map(|e| e["tag"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>(),
        set(["old-3"]),
        "{doc:#}"
    );
    for tag in ["old-1", "old-2"] {
        let e = entry(&doc, tag);
        assert_eq!(e["action"], "keep", "{doc:#}");
        let reason = e["reason"].as_str().unwrap();
        assert!(
            reason.contains("in use on Kubernetes (context prod)"),
            "{tag}: {reason}"
        );
    }
    assert!(
        entry(&doc, "old-1")["reason"]
            .as_str()
            .unwrap()
            .contains("digest"),
        "old-1 is kept by its running digest: {doc:#}"
    );
    assert!(
        r.stderr.contains("context prod"),
        "the log says what each context gave: {}",
        r.stderr
    );
    assert_eq!(
        client.image_tags("app"),
        all_tags,
        "a dry run deletes nothing"
    );

    // One cluster unreachable: exit 1 naming it, nothing deleted.
    let r = run(&two, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("context staging"), "{}", r.stderr);
    assert!(
        r.stderr.contains("--skip-unreachable-clusters"),
        "the hint names the way out: {}",
        r.stderr
    );
    assert_eq!(client.image_tags("app"), all_tags, "nothing was deleted");

    // Skipped with a warning: the cleanup proceeds with what prod uses.
    let r = run(&two, &["--skip-unreachable-clusters"]).ok();
    assert!(
        r.stderr.contains("staging") && r.stderr.contains("skipped"),
        "a warning names the skipped context: {}",
        r.stderr
    );
    let doc = r.json();
    for tag in ["old-1", "old-2", "new"] {
        assert_eq!(entry(&doc, tag)["action"], "keep", "{doc:#}");
    }
    assert_eq!(entry(&doc, "old-3")["action"], "delete", "{doc:#}");
    assert_eq!(client.image_tags("app"), vec!["new", "old-1", "old-2"]);
    assert_eq!(client.head("app", "old-1"), Some(by_digest));
}

#[test]
fn keep_in_use_options_are_checked_before_any_request() {
    use crate::support::run::{dockhand, dockhand_env};
    use crate::support::{FaultProxy, RegistryServer};

    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = proxy.host();
    let base = ["cleanup", "-i", &repo, "--image", "app", "--dry-run"];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        a
    }
    let refused = |r: &crate::support::run::Run, names: &[&str]| {
        assert_eq!(r.code, 2, "{r:?}");
        for n in names {
            assert!(r.stderr.contains(n), "{n} in: {}", r.stderr);
        }
    };

    // An unknown runtime, as a flag (clap lists the values) and as a variable.
    let r = dockhand(&with(&base, &["--keep-in-use", "docker"]), cwd);
    refused(&r, &["--keep-in-use", "kubernetes"]);
    let r = dockhand_env(&base, cwd, &[("DOCKHAND_KEEP_IN_USE", "docker")]);
    refused(&r, &["DOCKHAND_KEEP_IN_USE", "kubernetes", "--keep-list"]);
    let r = dockhand_env(&base, cwd, &[("INPUT_KEEP-IN-USE", "swarm")]);
    refused(&r, &["INPUT_KEEP-IN-USE", "kubernetes"]);
    // Kubernetes options without --keep-in-use would read nothing.
    let r = dockhand(&with(&base, &["--kube-context", "prod"]), cwd);
    refused(&r, &["--kube-context", "--keep-in-use kubernetes"]);
    let r = dockhand_env(
        &base,
        cwd,
        &[("DOCKHAND_SKIP_UNREACHABLE_CLUSTERS", "true")],
    );
    refused(&r, &["DOCKHAND_SKIP_UNREACHABLE_CLUSTERS", "--keep-in-use"]);
    let r = dockhand_env(
        &base,
        cwd,
        &[("DOCKHAND_SKIP_UNREACHABLE_CLUSTERS", "maybe")],
    );
    refused(&r, &["DOCKHAND_SKIP_UNREACHABLE_CLUSTERS", "true or false"]);
    // A kubeconfig that is missing, or names no such context.
    let missing = cwd.join("nope");
    let r = dockhand(
        &with(
            &base,
            &[
                "--keep-in-use",
                "kubernetes",
                "--kubeconfig",
                missing.to_str().unwrap(),
            ],
        ),
        cwd,
    );
    refused(&r, &["nope"]);
    let config = cwd.join("kubeconfig");
    cli_kubeconfig(&config, "http://127.0.0.1:1", None);
    let r = dockhand(
        &with(
            &base,
            &[
                "--keep-in-use",
                "KUBERNETES",
                "--kubeconfig",
                config.to_str().unwrap(),
                "--kube-context",
                "prd",
            ],
        ),
        cwd,
    );
    refused(&r, &["prd", "--kube-context"]);
    // KUBECONFIG is the default (HOME is the test's directory, with no ~/.kube/config).
    let r = dockhand_env(
        &with(
            &base,
            &["--keep-in-use", "kubernetes", "--kube-context", "prd"],
        ),
        cwd,
        &[("KUBECONFIG", config.to_str().unwrap())],
    );
    refused(&r, &["prd", "prod"]);
    assert!(
        proxy.requests().is_empty(),
        "nothing may be sent: {:?}",
        proxy.requests()
    );
}
