//! Robustness of the binary (issue 12): signals, timeouts, retry budgets, transport edges and
//! detection without a probe. Every registry is on loopback; faults come from the fault proxy
//! (`support::proxy`) or a silent listener.
//!
//! Sections:
//! - helpers: running the binary with a bounded wait, sources on disk;
//! - signals: SIGTERM as PID 1 (in a new PID namespace), SIGTERM and SIGINT as a plain child;
//! - timeouts: a silent registry, a hanging request, the run deadline, the run-wide retry budget;
//! - transport edges: redirect to plain HTTP, TLS errors in words, nothing sent for bad input,
//!   the one-shot probe;
//! - detection: `harbor.` hosts without a probe.

use crate::support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use support::*;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// A clean environment: only `PATH`, `HOME` (a fresh temp dir, also the working directory) and
/// `TMPDIR` (another one, so temp files left behind can be seen).
struct Env {
    home: TempDir,
    tmp: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("TMPDIR", self.tmp.path())
            .envs(env.iter().copied())
            .current_dir(self.home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        self.command(env!("CARGO_BIN_EXE_dockhand"), args, env)
            .spawn()
            .expect("start dockhand")
    }

    /// Runs to the end, but never longer than `limit` (then kills it and panics).
    fn run(&self, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Finished {
        let start = Instant::now();
        let child = self.spawn(args, env);
        finish(child, start, limit)
    }

    /// Files and directories left in `TMPDIR`.
    fn leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

/// Waits for `child` up to `limit` after `start`; kills it and panics when it overstays.
fn finish(mut child: Child, start: Instant, limit: Duration) -> Finished {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let took = start.elapsed();
            let mut stdout = String::new();
            let mut stderr = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Finished {
                code: status.code(),
                stdout,
                stderr,
                took,
            };
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `cond` holds (or panics after `limit`).
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The seed example's layouts under `dir` (`dir/backend`, `dir/frontend`).
fn layouts(dir: &Path) {
    dockhand::fixtures::seed_example(dir).unwrap();
}

/// A gzip-compressed OCI archive of the `backend` layout: dockhand unpacks it into a temp dir.
fn gzip_archive(dir: &Path) -> PathBuf {
    layouts(dir);
    let out = dir.join("backend.tar.gz");
    let status = Command::new("tar")
        .arg("-C")
        .arg(dir.join("backend"))
        .arg("-czf")
        .arg(&out)
        .args(["oci-layout", "index.json", "blobs"])
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid we started; no memory is shared.
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

/// The child of `unshare --fork`: dockhand, PID 1 in its namespace.
fn child_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

/// A publish whose blob uploads are held up for a minute at the proxy, started by `start`, gets
/// `signal` once an upload is in flight: it must stop at once, say so, remove its unpack dir and
/// exit with `code`.
fn publish_is_stopped_by(signal: i32, code: i32, start: impl FnOnce(&Env, &[&str]) -> Child) {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    proxy.add_fault(Fault::always(
        Method::POST,
        "/v2/**/blobs/uploads/",
        FaultAction::Delay(Duration::from_secs(60)),
    ));
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    let archive = gzip_archive(src.path());
    let repo = format!("{}/app", proxy.host());
    let image = format!("backend=oci-archive:{}", archive.display());
    let args = [
        "publish",
        "-i",
        &repo,
        "--image",
        &image,
        "--tag-custom",
        "v1",
    ];
    let child = start(&env, &args);
    wait_for("an upload in flight", Duration::from_secs(20), || {
        proxy.count(Method::POST) > 0
    });
    // Gzip archives are read from their stream: nothing is unpacked into TMPDIR, before or
    // after the signal.
    assert_eq!(env.leftovers(), Vec::<PathBuf>::new(), "nothing unpacked");
    let signalled = Instant::now();
    let target = child_of(child.id()).unwrap_or(child.id());
    send_signal(target, signal);
    let run = finish(child, signalled, Duration::from_secs(5));
    assert_eq!(run.code, Some(code), "{run:#?}");
    assert!(run.stderr.contains("interrupted"), "{run:#?}");
    assert!(
        run.took < Duration::from_secs(3),
        "stopped promptly: {run:#?}"
    );
    assert_eq!(env.leftovers(), Vec::<PathBuf>::new(), "temp files left");
}

/// As a container's entrypoint dockhand is PID 1, to which the kernel delivers no signal it has
/// no handler for: SIGTERM used to be ignored and the publish ran on.
#[test]
fn sigterm_as_pid_1_stops_a_publish() {
    publish_is_stopped_by(libc::SIGTERM, 143, |env, args| {
        let mut argv = vec![
            "--pid",
            "--fork",
            "--kill-child",
            env!("CARGO_BIN_EXE_dockhand"),
        ];
        argv.extend_from_slice(args);
        let child = env
            .command("unshare", &argv, &[])
            .spawn()
            .expect("unshare (needs root)");
        wait_for("dockhand under unshare", Duration::from_secs(10), || {
            child_of(child.id()).is_some()
        });
        child
    });
}

#[test]
fn sigterm_stops_a_publish() {
    publish_is_stopped_by(libc::SIGTERM, 143, |env, args| env.spawn(args, &[]));
}

#[test]
fn sigint_stops_a_publish() {
    publish_is_stopped_by(libc::SIGINT, 130, |env, args| env.spawn(args, &[]));
}

// ---------------------------------------------------------------------------------------------
// Timeouts, deadline, retry budget
// ---------------------------------------------------------------------------------------------

/// A registry that accepts connections and never answers used to hold a request for 30 minutes.
#[test]
fn silent_registry_fails_within_the_read_timeout() {
    let silent = SilentServer::start();
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    layouts(src.path());
    let repo = format!("{}/app", silent.host());
    let image = format!("backend=oci:{}", src.path().join("backend").display());
    let run = env.run(
        &[
            "publish",
            "-i",
            &repo,
            "--implementation",
            "default",
            "--image",
            &image,
            "--tag-custom",
            "v1",
            "--read-timeout",
            "2s",
        ],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.took < Duration::from_secs(6), "{run:#?}");
    assert!(run.stderr.contains(&silent.host()), "{run:#?}");
    assert!(run.stderr.contains("--read-timeout"), "{run:#?}");
    assert_eq!(silent.accepted(), 1, "a silent server is not asked again");
}

/// A request without an answer is announced every progress interval, then fails at the read
/// timeout, naming the host and the option (also as `DOCKHAND_READ_TIMEOUT`).
#[test]
fn hanging_request_is_announced_then_times_out() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    proxy.add_fault(Fault::hang(
        Method::HEAD,
        "/v2/**/manifests/*",
        support::proxy::ALWAYS,
    ));
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    layouts(src.path());
    let repo = format!("{}/app", proxy.host());
    let image = format!("backend=oci:{}", src.path().join("backend").display());
    let run = env.run(
        &[
            "publish",
            "-i",
            &repo,
            "--image",
            &image,
            "--tag-custom",
            "v1",
        ],
        &[
            ("DOCKHAND_READ_TIMEOUT", "3s"),
            ("DOCKHAND_PROGRESS_INTERVAL", "1"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.took < Duration::from_secs(8), "{run:#?}");
    let line = format!("waiting for {}: no answer to HEAD", proxy.host());
    assert!(run.stderr.contains(&line), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "no answer from {} for 3s (--read-timeout)",
            proxy.host()
        )),
        "{run:#?}"
    );
}

/// `--deadline` stops the whole run, whatever the request timeouts say.
#[test]
fn deadline_stops_the_run() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    proxy.add_fault(Fault::hang(
        Method::HEAD,
        "/v2/**/manifests/*",
        support::proxy::ALWAYS,
    ));
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    layouts(src.path());
    let repo = format!("{}/app", proxy.host());
    let image = format!("backend=oci:{}", src.path().join("backend").display());
    let run = env.run(
        &[
            "publish",
            "-i",
            &repo,
            "--image",
            &image,
            "--tag-custom",
            "v1",
            "--deadline",
            "2s",
        ],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.took < Duration::from_secs(5), "{run:#?}");
    assert!(run.stderr.contains("--deadline"), "{run:#?}");
}

/// A registry that rate-limits every request: each request alone could wait 10 s (5 retries of
/// `Retry-After: 2`); the run as a whole stops once its budget of waiting is spent, and says so.
#[test]
fn rate_limited_run_spends_its_retry_budget() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    proxy.add_fault(Fault::always(
        Method::HEAD,
        "/v2/**/manifests/*",
        FaultAction::Respond {
            status: 429,
            headers: vec![("Retry-After".into(), "2".into())],
            body: vec![],
        },
    ));
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    layouts(src.path());
    let repo = format!("{}/team", proxy.host());
    let backend = format!("backend=oci:{}", src.path().join("backend").display());
    let frontend = format!("frontend=oci:{}", src.path().join("frontend").display());
    let run = env.run(
        &[
            "publish",
            "-i",
            &repo,
            "--image",
            &backend,
            "--image",
            &frontend,
            "--tag-custom",
            "v1",
            "--retry-budget",
            "3s",
        ],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.took < Duration::from_secs(6), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "waiting 2 s for {} rate limit (Retry-After)",
            proxy.host()
        )),
        "{run:#?}"
    );
    assert!(run.stderr.contains("--retry-budget"), "{run:#?}");
    // Two images, one 2 s wait allowed in all: at most one retry was sent.
    let heads = proxy.count_route(Method::HEAD, "/v2/**/manifests/*");
    assert!(heads <= 3, "{heads} HEADs");
}

/// Bad durations are bad input, named by their option.
#[test]
fn bad_timeouts_are_bad_input() {
    let env = Env::new();
    for (flag, value) in [
        ("--connect-timeout", "0"),
        ("--read-timeout", "soon"),
        ("--deadline", "never"),
        ("--retry-budget", "x"),
    ] {
        let run = env.run(
            &["detect", "-i", "registry.example.com/app", flag, value],
            &[],
            Duration::from_secs(10),
        );
        assert_eq!(run.code, Some(2), "{flag} {value}: {run:#?}");
        assert!(run.stderr.contains(flag), "{flag} {value}: {run:#?}");
        assert!(
            !run.stderr.contains("unexpected argument"),
            "{flag} is an option: {run:#?}"
        );
    }
    let run = env.run(
        &["detect", "-i", "registry.example.com/app", "--no-probe"],
        &[("DOCKHAND_READ_TIMEOUT", "soon")],
        Duration::from_secs(10),
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("DOCKHAND_READ_TIMEOUT"), "{run:#?}");
}

// ---------------------------------------------------------------------------------------------
// Transport edges
// ---------------------------------------------------------------------------------------------

/// A redirect to plain HTTP is refused unless the target host is an insecure registry.
/// `0.0.0.0` reaches loopback on Linux without counting as loopback, so it stands for a remote
/// storage host here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_to_plain_http_is_refused_unless_insecure() {
    use dockhand::registry::credentials::CredentialStore;
    use dockhand::registry::transport::{Request, Transport, TransportConfig};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let storage = axum::Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        async { "blob bytes" }
    });
    let storage_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let storage_host = format!("0.0.0.0:{}", storage_listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(storage_listener, storage).await.unwrap() });
    let location = format!("http://{storage_host}/blob");
    let registry = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, registry).await.unwrap() });
    let url = url::Url::parse(&format!("http://{host}/v2/app/blobs/sha256:abc")).unwrap();

    let t = Transport::new(TransportConfig::default(), CredentialStore::default()).unwrap();
    let e = match t.send(Request::new(Method::GET, url.clone())).await {
        Err(e) => e,
        Ok(r) => panic!("followed the redirect: HTTP {}", r.status()),
    };
    let text = e.to_string();
    assert!(text.contains("plain HTTP"), "{text}");
    assert!(
        text.contains(&format!("--insecure-registry {storage_host}")),
        "{text}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing went to the target");

    let config = TransportConfig {
        insecure_hosts: vec![storage_host.clone()],
        ..Default::default()
    };
    let t = Transport::new(config, CredentialStore::default()).unwrap();
    let r = t.send(Request::new(Method::GET, url)).await.unwrap();
    assert_eq!(r.text().await.unwrap(), "blob bytes");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A server process on a free loopback port (TLS with a self-signed certificate), killed on drop.
struct ServerProcess {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl ServerProcess {
    /// Writes `cert.pem` and `key.pem` for `localhost` (and `0.0.0.0` with `any_address`) into
    /// `dir`, then starts `command(port)` on free ports until one accepts connections.
    fn start(
        what: &str,
        any_address: bool,
        dir: TempDir,
        command: impl Fn(u16) -> Command,
    ) -> ServerProcess {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("cert params");
        if any_address {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress("0.0.0.0".parse().unwrap()));
        }
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut child = command(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return ServerProcess {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("{what} did not start");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS server on loopback with a self-signed certificate, reached as `0.0.0.0:PORT` so that
/// dockhand verifies it (loopback names are insecure registries). `openssl s_server` answers.
fn self_signed_tls() -> ServerProcess {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    ServerProcess::start("openssl s_server", true, dir, |port| {
        let mut c = Command::new("openssl");
        c.args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key);
        c
    })
}

/// A certificate nobody trusts is explained, with the fixes, not as rustls' `UnknownIssuer`.
#[test]
fn untrusted_certificate_is_explained() {
    let tls = self_signed_tls();
    let host = format!("0.0.0.0:{}", tls.port);
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    layouts(src.path());
    let repo = format!("{host}/app");
    let image = format!("backend=oci:{}", src.path().join("backend").display());
    let run = env.run(
        &[
            "publish",
            "-i",
            &repo,
            "--implementation",
            "default",
            "--image",
            &image,
            "--tag-custom",
            "v1",
        ],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    for internal in [
        "UnknownIssuer",
        "InvalidCertificate",
        "CaUsedAsEndEntity",
        "rustls",
    ] {
        assert!(!run.stderr.contains(internal), "{internal}: {run:#?}");
    }
    for needle in [
        "not signed by a certificate authority this machine trusts",
        "SSL_CERT_FILE",
        &format!("--insecure-registry {host}"),
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {run:#?}");
    }
}

/// Exit 2 means nothing was sent: a monorepo tag over 128 characters fails before the probe.
#[test]
fn too_long_monorepo_tag_sends_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let env = Env::new();
    let repo = format!("{}/x", proxy.host());
    let tag = "t".repeat(125);
    let run = env.run(
        &[
            "detect",
            "-i",
            &repo,
            "--image",
            "backend",
            "--images-repo-mode",
            "monorepo",
            "--tag-custom",
            &tag,
        ],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("128"), "{run:#?}");
    assert_eq!(proxy.requests().len(), 0, "{:?}", proxy.requests());
    assert_eq!(proxy.connections(), 0);
}

/// The probe is one attempt: a closed port answers at once, a silent listener costs one
/// connection and the probe timeout (capped by `--connect-timeout`); detection goes on without it.
#[test]
fn probe_is_one_short_attempt() {
    let env = Env::new();
    let closed = format!("127.0.0.1:{}", free_port());
    let run = env.run(
        &["detect", "-i", &format!("{closed}/app")],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.took < Duration::from_secs(3), "{run:#?}");
    assert!(run.stderr.contains("could not probe"), "{run:#?}");

    let silent = SilentServer::start();
    let run = env.run(
        &[
            "detect",
            "-i",
            &format!("{}/app", silent.host()),
            "--connect-timeout",
            "1s",
        ],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.took >= Duration::from_secs(1) && run.took < Duration::from_secs(4),
        "about the probe timeout: {run:#?}"
    );
    assert!(
        run.stdout.contains("the probe could not reach it"),
        "{run:#?}"
    );
    assert_eq!(silent.accepted(), 1, "{run:#?}");
}

// ---------------------------------------------------------------------------------------------
// Detection without a probe
// ---------------------------------------------------------------------------------------------

/// werf users' `harbor.<domain>` hosts are Harbor when the probe is off, and `detect` says why.
#[test]
fn harbor_host_name_without_probe() {
    let env = Env::new();
    let run = env.run(
        &[
            "detect",
            "-i",
            "harbor.example.com/project",
            "--no-probe",
            "--output",
            "json",
        ],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["implementation"], "harbor", "{doc:#}");
    let reason = doc["detection"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("harbor.") && reason.contains("werf"),
        "{reason}"
    );
    let run = env.run(
        &["detect", "-i", "harbor.example.com/project", "--no-probe"],
        &[],
        Duration::from_secs(10),
    );
    assert!(run.stdout.contains("werf's hint for Harbor"), "{run:#?}");
}

/// `--read-timeout` is an idle limit: a streamed upload that takes three times the limit but keeps
/// moving succeeds; a server that then keeps silent for longer than the limit fails the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_is_idle_time_not_request_time() {
    use bytes::Bytes;
    use dockhand::registry::credentials::CredentialStore;
    use dockhand::registry::transport::{Body, Request, Transport, TransportConfig};
    use futures_util::StreamExt;
    use std::sync::Arc;

    // Reads the whole body, then answers after `?think=MS` milliseconds.
    let app =
        axum::Router::new().fallback(|uri: axum::http::Uri, body: axum::body::Bytes| async move {
            let think: u64 = uri
                .query()
                .and_then(|q| q.strip_prefix("think="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(think)).await;
            (axum::http::StatusCode::CREATED, body.len().to_string())
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    const CHUNKS: u64 = 10;
    const CHUNK: usize = 64 * 1024;
    let slow_body = || Body::Stream {
        len: CHUNKS * CHUNK as u64,
        make: Arc::new(|| {
            let chunks = futures_util::stream::iter(0..CHUNKS).then(|_| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, std::io::Error>(Bytes::from(vec![7u8; CHUNK]))
            });
            reqwest::Body::wrap_stream(chunks)
        }),
    };
    let config = TransportConfig {
        read_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let t = Transport::new(config, CredentialStore::default()).unwrap();
    let url = |q: &str| url::Url::parse(&format!("http://{host}/upload{q}")).unwrap();

    let start = Instant::now();
    let r = t
        .send(Request::new(Method::PUT, url("")).body(slow_body()))
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    assert_eq!(r.text().await.unwrap(), (CHUNKS * CHUNK as u64).to_string());
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "the upload took its time"
    );

    let start = Instant::now();
    let e = match t
        .send(Request::new(Method::PUT, url("?think=5000")).body(slow_body()))
        .await
    {
        Err(e) => e,
        Ok(r) => panic!("answered HTTP {}", r.status()),
    };
    assert!(e.to_string().contains("--read-timeout"), "{e}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(6),
        "failed one idle second after the upload: {took:?}"
    );
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
/// Holds the socket and the connections that filled the queue.
struct FullBacklog {
    fd: i32,
    port: u16,
    _filled: Vec<std::net::TcpStream>,
}

impl FullBacklog {
    fn start() -> FullBacklog {
        // SAFETY: plain socket calls on a descriptor this struct owns and closes on drop.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len),
                0
            );
            assert_eq!(libc::listen(fd, 0), 0);
            let mut bound: libc::sockaddr_in = std::mem::zeroed();
            let mut blen = len;
            libc::getsockname(fd, &mut bound as *mut _ as *mut libc::sockaddr, &mut blen);
            let port = u16::from_be(bound.sin_port);
            // Fill the queue; a connection that cannot complete any more shows it is full.
            let mut filled = Vec::new();
            for _ in 0..8 {
                match std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_millis(200),
                ) {
                    Ok(s) => filled.push(s),
                    Err(_) => break,
                }
            }
            FullBacklog {
                fd,
                port,
                _filled: filled,
            }
        }
    }
}

impl Drop for FullBacklog {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// A host that does not complete the TCP handshake fails within `--connect-timeout`, naming it.
#[test]
fn unreachable_host_fails_within_the_connect_timeout() {
    let full = FullBacklog::start();
    let host = format!("127.0.0.1:{}", full.port);
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    layouts(src.path());
    let repo = format!("{host}/app");
    let image = format!("backend=oci:{}", src.path().join("backend").display());
    let run = env.run(
        &[
            "publish",
            "-i",
            &repo,
            "--implementation",
            "default",
            "--image",
            &image,
            "--tag-custom",
            "v1",
        ],
        &[("DOCKHAND_CONNECT_TIMEOUT", "1s")],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.took < Duration::from_secs(4), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "no connection to {host} within 1s (--connect-timeout)"
        )),
        "{run:#?}"
    );
}

/// A real docker-registry serving HTTPS on loopback, whose blob GETs redirect (its `redirect`
/// storage middleware) to `baseurl`. Killed on drop.
fn tls_redirecting_registry(baseurl: &str) -> ServerProcess {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let root = dir.path().to_path_buf();
    ServerProcess::start("docker-registry with TLS", false, dir, |port| {
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: robustness\n  tls:\n    certificate: {cert}\n    key: {key}\n\
             middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {baseurl}\n",
            data = root.join("data").display(),
            cert = root.join("cert.pem").display(),
            key = root.join("key.pem").display(),
        );
        let path = root.join("config.yml");
        std::fs::write(&path, config).unwrap();
        let mut c = Command::new(support::registry::REGISTRY_BIN);
        c.arg("serve").arg(&path).env_clear();
        c
    })
}

/// HTTPS to plain HTTP: a registry on HTTPS whose blob GET redirects to an `http://` storage host
/// that nobody marked insecure. The blob must not be fetched in clear text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_redirect_to_plain_http_is_refused() {
    use dockhand::registry::credentials::CredentialStore;
    use dockhand::registry::distribution::{Distribution, Repo, bytes_body};
    use dockhand::registry::media::sha256_digest;
    use dockhand::registry::transport::{Transport, TransportConfig};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let storage = axum::Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        async { "storage" }
    });
    let storage_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let storage_host = format!("0.0.0.0:{}", storage_listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(storage_listener, storage).await.unwrap() });

    let reg = tls_redirecting_registry(&format!("http://{storage_host}"));
    let host = format!("localhost:{}", reg.port);
    let oci = Distribution::new(
        Transport::new(TransportConfig::default(), CredentialStore::default()).unwrap(),
    );
    let base = oci.transport().base_url(&host).await.unwrap();
    assert_eq!(base.scheme(), "https", "the registry speaks TLS");
    let repo = Repo::new(host.clone(), "app");
    let blob = b"a blob that must not travel in clear text".to_vec();
    let digest = sha256_digest(&blob);
    oci.upload_blob(&repo, &digest, bytes_body(blob))
        .await
        .unwrap();

    let e = match oci.get_blob(&repo, &digest).await {
        Err(e) => e,
        Ok(r) => panic!("followed the redirect: HTTP {}", r.status()),
    };
    let text = e.to_string();
    assert!(text.contains("to plain HTTP"), "{text}");
    assert!(
        text.contains(&format!("--insecure-registry {storage_host}")),
        "{text}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing went in clear text");
}
