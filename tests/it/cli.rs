//! End-to-end tests of the `dockhand` binary: exit codes, stdout and stderr as a user sees them.
//!
//! Every run starts from an empty environment (only `PATH`, and `HOME` pointing at a fresh temp
//! dir that is also the working directory), so nothing from the developer's or CI's environment
//! (proxies, `DOCKHAND_*`, Docker credentials, a `dockhand.yaml` in the tree) leaks in.
//!
//! Sections:
//! - helpers: running the binary ([`Dockhand`], [`Run`]) and a tiny fake registry ([`FakeRegistry`]);
//! - `detect`: the address table, text output and probing;
//! - bad input: exit 2, the field named, nothing sent;
//! - ci-env outside a CI, help and version.

use crate::support;
use crate::support::run::Run;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

use support::{FaultProxy, RegistryServer};

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

impl Run {
    /// Panics with the whole run when the exit code differs.
    #[track_caller]
    fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "unexpected exit code; run: {self:#?}");
        self
    }

    #[track_caller]
    fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}; run: {self:#?}"
        );
        self
    }

    #[track_caller]
    fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}; run: {self:#?}"
        );
        self
    }
}

/// A clean environment to run dockhand in: its own `HOME` (also the working directory).
struct Dockhand {
    home: TempDir,
}

impl Dockhand {
    fn new() -> Dockhand {
        Dockhand {
            home: tempfile::tempdir().expect("temp HOME"),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// Writes `name` under `HOME` and returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.home().join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create dir");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs with `PATH`, `HOME` and `env` only.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .envs(env.iter().copied())
            .current_dir(self.home())
            .output()
            .expect("run dockhand");
        out.into()
    }
}

/// Shorthand for a one-off run in a clean environment.
fn dockhand(args: &[&str]) -> Run {
    Dockhand::new().run(args)
}

/// `s` as an owned argument list.
fn args(s: &[&str]) -> Vec<String> {
    s.iter().map(|a| a.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// A tiny fake registry: fixed answers per path, every request recorded
// ---------------------------------------------------------------------------------------------

/// One canned answer.
struct Route {
    path: &'static str,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Route {
    fn new(path: &'static str, status: u16) -> Route {
        Route {
            path,
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    fn header(mut self, name: &'static str, value: String) -> Route {
        self.headers.push((name, value));
        self
    }

    fn json(mut self, body: &str) -> Route {
        self.body = body.to_string();
        self.header("Content-Type", "application/json".to_string())
    }

    /// `GET /v2/` answering 401 with a Bearer challenge for `realm`, `service`.
    fn challenge(realm: String, service: &str) -> Route {
        Route::new("/v2/", 401)
            .header(
                "WWW-Authenticate",
                format!(r#"Bearer realm="{realm}",service="{service}""#),
            )
            .json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)
    }
}

/// One request the fake saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// An HTTP/1.1 server on 127.0.0.1 answering from a route table (404 elsewhere). Stops on drop.
struct FakeRegistry {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeRegistry {
    /// `routes` gets the server's `127.0.0.1:PORT`, for realms that point back at it.
    fn start(routes: impl FnOnce(&str) -> Vec<Route>) -> FakeRegistry {
        let listener = support::bind_loopback();
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let routes = Arc::new(routes(&addr.to_string()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel::<()>();
        let recorder = seen.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new().fallback(move |req: Request| {
                    let routes = routes.clone();
                    let recorder = recorder.clone();
                    async move { answer(&routes, &recorder, req) }
                });
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        FakeRegistry {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// `METHOD PATH` of every request, in order.
    fn requests(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(routes: &[Route], recorder: &Mutex<Vec<Seen>>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    recorder.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: path.clone(),
        authorization: req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("<binary>").to_string()),
    });
    let Some(route) = routes.iter().find(|r| r.path == path) else {
        let mut not_found = Response::new(Body::from("not found"));
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        return not_found;
    };
    let mut resp = Response::new(Body::from(route.body.clone()));
    *resp.status_mut() = StatusCode::from_u16(route.status).expect("status");
    for (name, value) in &route.headers {
        resp.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// detect: the address table
// ---------------------------------------------------------------------------------------------

/// One row of the detect table: an address (plus flags) and what dockhand must say about it.
struct Row {
    address: &'static str,
    flags: Vec<&'static str>,
    images: Vec<&'static str>,
    implementation: &'static str,
    source: &'static str,
    mode: &'static str,
    /// Every reference, in image order (one tag per image: `tag`).
    references: Vec<&'static str>,
}

/// A row with image `backend` and custom tag `tag`, found by host pattern (the common case).
fn row(
    address: &'static str,
    implementation: &'static str,
    mode: &'static str,
    references: &[&'static str],
) -> Row {
    Row {
        address,
        flags: Vec::new(),
        images: vec!["backend"],
        implementation,
        source: "host-pattern",
        mode,
        references: references.to_vec(),
    }
}

/// A row whose host matches no pattern: `default`, decided by fallback (probes are off).
fn generic(address: &'static str, references: &[&'static str]) -> Row {
    Row {
        source: "fallback",
        ..row(address, "default", "multirepo", references)
    }
}

impl Row {
    fn images(mut self, images: &[&'static str]) -> Row {
        self.images = images.to_vec();
        self
    }

    /// `--implementation NAME`: decided explicitly.
    fn explicit(mut self, name: &'static str) -> Row {
        self.flags.extend(["--implementation", name]);
        self.implementation = name;
        self.source = "explicit";
        self
    }

    fn argv(&self) -> Vec<&'static str> {
        let mut argv = vec![
            "detect",
            "-i",
            self.address,
            "--no-probe",
            "--output",
            "json",
        ];
        for image in &self.images {
            argv.extend(["--image", image]);
        }
        argv.extend(["--tag-custom", "tag"]);
        argv.extend(self.flags.iter().copied());
        argv
    }

    /// What is wrong with `doc` for this row, if anything.
    fn check(&self, doc: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let mut expect = |what: &str, got: &Value, want: &str| {
            if got.as_str() != Some(want) {
                problems.push(format!("{what}: want {want:?}, got {got}"));
            }
        };
        expect(
            "implementation",
            &doc["implementation"],
            self.implementation,
        );
        expect(
            "detection.implementation",
            &doc["detection"]["implementation"],
            self.implementation,
        );
        expect("detection.source", &doc["detection"]["source"], self.source);
        expect("mode", &doc["mode"], self.mode);
        let references: Vec<&str> = doc["images"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i["references"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        if references != self.references {
            problems.push(format!(
                "references: want {:?}, got {references:?}",
                self.references
            ));
        }
        if doc["detection"]["reason"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            problems.push("detection.reason is empty".into());
        }
        problems
    }
}

fn detect_table() -> Vec<Row> {
    vec![
        // --- AWS ECR: private, FIPS, China, dual-stack, Public ---
        row(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "ecr",
            "multirepo",
            &["123456789012.dkr.ecr.us-east-1.amazonaws.com/backend:tag"],
        ),
        row(
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com/team",
            "ecr",
            "multirepo",
            &["123456789012.dkr.ecr.eu-central-1.amazonaws.com/team/backend:tag"],
        ),
        row(
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/team",
            "ecr",
            "multirepo",
            &["123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/team/backend:tag"],
        ),
        row(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team",
            "ecr",
            "multirepo",
            &["123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/backend:tag"],
        ),
        row(
            "123456789012.dkr-ecr.us-west-2.on.aws/team",
            "ecr",
            "multirepo",
            &["123456789012.dkr-ecr.us-west-2.on.aws/team/backend:tag"],
        ),
        row(
            "public.ecr.aws/alias",
            "ecr",
            "multirepo",
            &["public.ecr.aws/alias/backend:tag"],
        ),
        // --- Azure: public cloud, China, US Government ---
        row(
            "myregistry.azurecr.io",
            "acr",
            "multirepo",
            &["myregistry.azurecr.io/backend:tag"],
        ),
        row(
            "myregistry.azurecr.io/team/app",
            "acr",
            "multirepo",
            &["myregistry.azurecr.io/team/app/backend:tag"],
        ),
        row(
            "myregistry.azurecr.cn/team",
            "acr",
            "multirepo",
            &["myregistry.azurecr.cn/team/backend:tag"],
        ),
        row(
            "myregistry.azurecr.us/team",
            "acr",
            "multirepo",
            &["myregistry.azurecr.us/team/backend:tag"],
        ),
        // --- Docker Hub: hostless (the seed example), and every host name ---
        row(
            "flant",
            "dockerhub",
            "multirepo",
            &[
                "docker.io/flant/backend:tag",
                "docker.io/flant/frontend:tag",
            ],
        )
        .images(&["backend", "frontend"]),
        row(
            "flant/project",
            "dockerhub",
            "monorepo",
            &[
                "docker.io/flant/project:backend-tag",
                "docker.io/flant/project:frontend-tag",
            ],
        )
        .images(&["backend", "frontend"]),
        row(
            "docker.io/flant",
            "dockerhub",
            "multirepo",
            &["docker.io/flant/backend:tag"],
        ),
        row(
            "docker.io/flant/project",
            "dockerhub",
            "monorepo",
            &["docker.io/flant/project:backend-tag"],
        ),
        row(
            "index.docker.io/flant",
            "dockerhub",
            "multirepo",
            &["index.docker.io/flant/backend:tag"],
        ),
        row(
            "registry-1.docker.io/flant/project",
            "dockerhub",
            "monorepo",
            &["registry-1.docker.io/flant/project:backend-tag"],
        ),
        row(
            "registry.hub.docker.com/flant",
            "dockerhub",
            "multirepo",
            &["registry.hub.docker.com/flant/backend:tag"],
        ),
        row(
            "registry.hub.docker.com/flant/project",
            "dockerhub",
            "monorepo",
            &["registry.hub.docker.com/flant/project:backend-tag"],
        ),
        // --- Google: GCR hosts and Artifact Registry ---
        row(
            "gcr.io/my-project",
            "gcr",
            "multirepo",
            &["gcr.io/my-project/backend:tag"],
        ),
        row(
            "eu.gcr.io/my-project",
            "gcr",
            "multirepo",
            &["eu.gcr.io/my-project/backend:tag"],
        ),
        row(
            "asia.gcr.io/my-project/team",
            "gcr",
            "multirepo",
            &["asia.gcr.io/my-project/team/backend:tag"],
        ),
        row(
            "europe-west1-docker.pkg.dev/my-project/repo",
            "gcr",
            "multirepo",
            &["europe-west1-docker.pkg.dev/my-project/repo/backend:tag"],
        ),
        row(
            "us-docker.pkg.dev/my-project/repo/team",
            "gcr",
            "multirepo",
            &["us-docker.pkg.dev/my-project/repo/team/backend:tag"],
        ),
        // --- GitHub: ghcr.io nests; the legacy registry follows the address ---
        row(
            "ghcr.io/owner",
            "github",
            "multirepo",
            &["ghcr.io/owner/backend:tag"],
        ),
        row(
            "ghcr.io/owner/project",
            "github",
            "multirepo",
            &["ghcr.io/owner/project/backend:tag"],
        ),
        row(
            "docker.pkg.github.com/account/project",
            "github",
            "multirepo",
            &["docker.pkg.github.com/account/project/backend:tag"],
        ),
        row(
            "docker.pkg.github.com/account/project/package",
            "github",
            "monorepo",
            &["docker.pkg.github.com/account/project/package:backend-tag"],
        ),
        // --- GitLab, Harbor, Quay ---
        row(
            "registry.gitlab.com/group/project",
            "gitlab",
            "multirepo",
            &["registry.gitlab.com/group/project/backend:tag"],
        ),
        row(
            "registry.gitlab.com/group/sub/project",
            "gitlab",
            "multirepo",
            &["registry.gitlab.com/group/sub/project/backend:tag"],
        ),
        row(
            "demo.goharbor.io/library",
            "harbor",
            "multirepo",
            &["demo.goharbor.io/library/backend:tag"],
        ),
        row(
            "quay.io/acme",
            "quay",
            "multirepo",
            &["quay.io/acme/backend:tag"],
        ),
        row(
            "quay.io/acme/app",
            "quay",
            "monorepo",
            &["quay.io/acme/app:backend-tag"],
        ),
        // --- The unnamed image: IMAGES_REPO:TAG in either mode ---
        generic("localhost:5000/app", &["localhost:5000/app:tag"]).images(&["~"]),
        row(
            "quay.io/acme/app",
            "quay",
            "monorepo",
            &["quay.io/acme/app:tag"],
        )
        .images(&["~"]),
        row(
            "docker.io/flant/project",
            "dockerhub",
            "monorepo",
            &[
                "docker.io/flant/project:backend-tag",
                "docker.io/flant/project:tag",
            ],
        )
        .images(&["backend", "~"]),
        // --- Self-hosted look-alikes: never mistaken for a vendor ---
        generic(
            "x.azurecr.io.example.com/team",
            &["x.azurecr.io.example.com/team/backend:tag"],
        ),
        generic(
            "quay.io.example.com/acme",
            &["quay.io.example.com/acme/backend:tag"],
        ),
        generic("gitlab.com/group", &["gitlab.com/group/backend:tag"]),
        generic(
            "registry.gitlab.com.example.org/group",
            &["registry.gitlab.com.example.org/group/backend:tag"],
        ),
        // werf's hint: without a probe, a `harbor.` host is Harbor.
        row(
            "harbor.example.com/library",
            "harbor",
            "multirepo",
            &["harbor.example.com/library/backend:tag"],
        ),
        generic(
            "myharbor.example.com/library",
            &["myharbor.example.com/library/backend:tag"],
        ),
        generic(
            "ghcr.io.example.com/owner",
            &["ghcr.io.example.com/owner/backend:tag"],
        ),
        generic("mydocker.io/flant", &["mydocker.io/flant/backend:tag"]),
        generic(
            "gcr.io.example.com/project",
            &["gcr.io.example.com/project/backend:tag"],
        ),
        generic(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/team",
            &["123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/team/backend:tag"],
        ),
        generic(
            "12345.dkr.ecr.us-east-1.amazonaws.com/team",
            &["12345.dkr.ecr.us-east-1.amazonaws.com/team/backend:tag"],
        ),
        generic(
            "registry.example.com:5000/team",
            &["registry.example.com:5000/team/backend:tag"],
        ),
        generic("localhost:5000", &["localhost:5000/backend:tag"]),
        generic("[::1]:5000/x", &["[::1]:5000/x/backend:tag"]),
        generic("127.0.0.1:5000/a/b", &["127.0.0.1:5000/a/b/backend:tag"]),
        // --- Explicit --implementation beats the host ---
        row(
            "registry.example.com/acme",
            "",
            "multirepo",
            &["registry.example.com/acme/backend:tag"],
        )
        .explicit("quay"),
        row(
            "registry.example.com/flant/project",
            "",
            "monorepo",
            &["registry.example.com/flant/project:backend-tag"],
        )
        .explicit("dockerhub"),
        row(
            "ghcr.io/owner",
            "",
            "multirepo",
            &["ghcr.io/owner/backend:tag"],
        )
        .explicit("default"),
        row(
            "localhost:5000/library",
            "",
            "multirepo",
            &["localhost:5000/library/backend:tag"],
        )
        .explicit("harbor"),
        row(
            "gitlab.example.com:5050/group/project",
            "",
            "multirepo",
            &["gitlab.example.com:5050/group/project/backend:tag"],
        )
        .explicit("gitlab"),
    ]
}

#[test]
fn detect_address_table() {
    let table = detect_table();
    assert!(table.len() >= 45, "the table has {} rows", table.len());
    let env = Dockhand::new();
    let mut failures = Vec::new();
    for row in &table {
        let argv = row.argv();
        let run = env.run(&argv);
        if run.code != 0 {
            failures.push(format!(
                "dockhand {}: exit {}\n{}",
                argv.join(" "),
                run.code,
                run.stderr
            ));
            continue;
        }
        let problems = row.check(&run.json());
        if !problems.is_empty() {
            failures.push(format!(
                "dockhand {}:\n  {}",
                argv.join(" "),
                problems.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[test]
fn detect_without_tags_shows_patterns() {
    let run = dockhand(&[
        "detect",
        "-i",
        "flant/project",
        "--image",
        "backend",
        "--no-probe",
        "--output",
        "json",
    ]);
    let doc = run.expect_code(0).json();
    assert_eq!(doc["images"][0]["references"], serde_json::json!([]));
    assert_eq!(
        doc["images"][0]["pattern"],
        "docker.io/flant/project:backend-<tag>"
    );
}

/// Without images, the pattern shows `<image>`, even where the address itself contains "image".
#[test]
fn detect_without_images_shows_the_image_placeholder() {
    for (addr, mode, want) in [
        (
            "registry.example.com/images",
            "auto",
            "registry.example.com/images/<image>:<tag>",
        ),
        (
            "registry.example.com/images/app",
            "monorepo",
            "registry.example.com/images/app:<image>-<tag>",
        ),
    ] {
        let run = dockhand(&[
            "detect",
            "-i",
            addr,
            "--images-repo-mode",
            mode,
            "--no-probe",
            "--output",
            "json",
        ]);
        let doc = run.expect_code(0).json();
        assert_eq!(doc["images"][0]["pattern"], want, "{addr}");
    }
}

// ---------------------------------------------------------------------------------------------
// detect: human output
// ---------------------------------------------------------------------------------------------

#[test]
fn detect_text_output() {
    let run = dockhand(&[
        "detect",
        "-i",
        "flant/project",
        "--image",
        "backend",
        "--image",
        "frontend",
        "--tag-custom",
        "tag",
        "--no-probe",
    ]);
    run.expect_code(0)
        .stdout_has("flant/project")
        .stdout_has("dockerhub")
        .stdout_has("Docker Hub")
        .stdout_has("because")
        .stdout_has("host \"docker.io\" is Docker Hub")
        .stdout_has("monorepo")
        .stdout_has("docker.io/flant/project:backend-tag")
        .stdout_has("docker.io/flant/project:frontend-tag");
    assert!(
        serde_json::from_str::<Value>(&run.stdout).is_err(),
        "text output must not be JSON: {run:#?}"
    );
    // Both reasons: one for the implementation, one for the mode.
    assert_eq!(run.stdout.matches("because").count(), 2, "{run:#?}");

    let run = dockhand(&[
        "detect",
        "-i",
        "registry.example.com:5000/team",
        "--image",
        "api",
        "--tag-custom",
        "v1",
        "--tag-custom",
        "latest",
        "--no-probe",
    ]);
    run.expect_code(0)
        .stdout_has("default")
        .stdout_has("probing is off")
        .stdout_has("multirepo")
        .stdout_has("registry.example.com:5000/team/api:v1")
        .stdout_has("registry.example.com:5000/team/api:latest");
}

// ---------------------------------------------------------------------------------------------
// detect: probing unknown hosts
// ---------------------------------------------------------------------------------------------

/// Docker credentials for `host` in `HOME/.docker/config.json`, so that a probe that sent them
/// would be seen.
/// `dockhand detect`'s human output, pinned (insta snapshots in tests/it/snapshots). The inputs
/// decide everything offline (an explicit implementation or a known host, `--no-probe`), so
/// nothing in the output depends on the machine: no port, no path, no time.
#[test]
fn detect_text_snapshots() {
    let run = dockhand(&[
        "detect",
        "-i",
        "registry.example.com/team",
        "--implementation",
        "harbor",
        "--image",
        "backend",
        "--image",
        "frontend",
        "--tag-custom",
        "v1",
        "--tag-git-branch",
        "feature/x",
        "--no-probe",
    ]);
    run.expect_code(0);
    insta::assert_snapshot!("detect_explicit_multirepo", run.stdout);
    let run = dockhand(&[
        "detect",
        "-i",
        "ghcr.io/acme/app",
        "--images-repo-mode",
        "monorepo",
        "--no-probe",
    ]);
    run.expect_code(0);
    insta::assert_snapshot!("detect_host_pattern_monorepo_placeholder", run.stdout);
}

fn with_docker_login(env: &Dockhand, host: &str) {
    env.write(
        ".docker/config.json",
        &format!(r#"{{"auths":{{"{host}":{{"auth":"dXNlcjpwYXNzd29yZA=="}}}}}}"#),
    );
}

/// Runs `detect -i HOST/x --output json` with probing on, against a fake with a Docker login.
fn probe_detect(fake: &FakeRegistry) -> Value {
    let env = Dockhand::new();
    with_docker_login(&env, &fake.host());
    let repo = format!("{}/group/project", fake.host());
    let run = env.run(&["detect", "-i", &repo, "--output", "json"]);
    run.expect_code(0);
    let doc = run.json();
    for s in fake.seen() {
        assert_eq!(
            s.authorization, None,
            "the probe sent credentials: {s:?}; run: {run:#?}"
        );
    }
    doc
}

#[test]
fn detect_probe_generic_registry() {
    // A real registry: anonymous, no challenge.
    let registry = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&registry.url());
    let env = Dockhand::new();
    with_docker_login(&env, &proxy.host());
    let repo = format!("{}/team", proxy.host());
    let run = env.run(&["detect", "-i", &repo, "--output", "json"]);
    let doc = run.expect_code(0).json();
    assert_eq!(doc["implementation"], "default", "{run:#?}");
    assert_eq!(doc["detection"]["source"], "fallback", "{run:#?}");
    let reason = doc["detection"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("probe"), "reason: {reason:?}");
    let requests = proxy.requests();
    assert!(
        !requests.is_empty() && requests.iter().all(|r| r.method == "GET"),
        "the probe is one anonymous GET: {requests:#?}"
    );
    assert!(
        requests.iter().all(|r| r.authorization.is_none()),
        "the probe sent credentials: {requests:#?}"
    );

    // GitLab: the /jwt/auth realm of service container_registry is enough.
    let gitlab = FakeRegistry::start(|host| {
        vec![Route::challenge(
            format!("http://{host}/jwt/auth"),
            "container_registry",
        )]
    });
    let doc = probe_detect(&gitlab);
    assert_eq!(doc["implementation"], "gitlab", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "probe", "{doc:#}");
    assert_eq!(gitlab.requests(), ["GET /v2/"]);

    // Harbor: the /service/token realm, confirmed by systeminfo.
    let harbor = FakeRegistry::start(|host| {
        vec![
            Route::challenge(format!("http://{host}/service/token"), "harbor-registry"),
            Route::new("/api/v2.0/systeminfo", 200)
                .json(r#"{"auth_mode":"db_auth","harbor_version":"v2.11.0"}"#),
        ]
    });
    let doc = probe_detect(&harbor);
    assert_eq!(doc["implementation"], "harbor", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "probe", "{doc:#}");
    assert_eq!(harbor.requests(), ["GET /v2/", "GET /api/v2.0/systeminfo"]);

    // Quay: the /v2/auth realm, confirmed by the discovery document.
    let quay = FakeRegistry::start(|host| {
        vec![
            Route::challenge(format!("http://{host}/v2/auth"), host),
            Route::new("/api/v1/discovery", 200)
                .json(r#"{"swagger":"2.0","info":{"title":"Quay Frontend","version":"v1"}}"#),
        ]
    });
    let doc = probe_detect(&quay);
    assert_eq!(doc["implementation"], "quay", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "probe", "{doc:#}");
    assert_eq!(quay.requests(), ["GET /v2/", "GET /api/v1/discovery"]);

    // A Harbor-looking realm without systeminfo is not Harbor.
    let lookalike = FakeRegistry::start(|host| {
        vec![Route::challenge(
            format!("http://{host}/service/token"),
            "harbor-registry",
        )]
    });
    let doc = probe_detect(&lookalike);
    assert_eq!(doc["implementation"], "default", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "fallback", "{doc:#}");
}

#[test]
fn detect_no_probe_sends_nothing() {
    let fake = FakeRegistry::start(|host| {
        vec![Route::challenge(
            format!("http://{host}/jwt/auth"),
            "container_registry",
        )]
    });
    let repo = format!("{}/group/project", fake.host());
    let run = dockhand(&["detect", "-i", &repo, "--no-probe", "--output", "json"]);
    let doc = run.expect_code(0).json();
    assert_eq!(doc["implementation"], "default");
    assert_eq!(doc["detection"]["source"], "fallback");
    assert_eq!(fake.requests(), Vec::<String>::new());

    // DOCKHAND_NO_PROBE is the same switch.
    let run = Dockhand::new().run_env(
        &["detect", "-i", &repo, "--output", "json"],
        &[("DOCKHAND_NO_PROBE", "true")],
    );
    assert_eq!(run.expect_code(0).json()["detection"]["source"], "fallback");
    assert_eq!(fake.requests(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Bad input: exit 2, the field named, nothing sent
// ---------------------------------------------------------------------------------------------

/// One bad-input case: a command line and environment, and what stderr must say.
struct BadCase {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    stderr: Vec<String>,
}

fn bad(name: &'static str, args: Vec<String>) -> BadCase {
    BadCase {
        name,
        args,
        env: Vec::new(),
        stderr: Vec::new(),
    }
}

impl BadCase {
    fn env(mut self, name: &'static str, value: &str) -> BadCase {
        self.env.push((name, value.to_string()));
        self
    }

    /// Substrings stderr must contain.
    fn says(mut self, needles: &[&str]) -> BadCase {
        self.stderr.extend(needles.iter().map(|s| s.to_string()));
        self
    }
}

/// Runs every case in a clean environment; returns a description of each failed one.
fn run_bad_cases(env: &Dockhand, proxy: &FaultProxy, cases: &[BadCase]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        proxy.clear_requests();
        let argv: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = case.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let run = env.run_env(&argv, &vars);
        let mut problems = Vec::new();
        if run.code != 2 {
            problems.push(format!("exit {} (want 2)", run.code));
        }
        for needle in &case.stderr {
            if !run.stderr.contains(needle.as_str()) {
                problems.push(format!("stderr lacks {needle:?}"));
            }
        }
        if !run.stdout.is_empty() {
            problems.push("stdout is not empty".to_string());
        }
        let sent = proxy.requests();
        if !sent.is_empty() {
            let paths: Vec<String> = sent
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect();
            problems.push(format!("sent to the registry: {paths:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] dockhand {} {:?}\n  {}\n  stderr: {}",
                case.name,
                argv.join(" "),
                case.env,
                problems.join("\n  "),
                run.stderr.trim_end().replace('\n', "\n          ")
            ));
        }
    }
    failures
}

#[track_caller]
fn assert_no_failures(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} bad-input cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Config files with one mistake each, written under `env`'s HOME.
struct BadConfigs {
    bad_mode: String,
    malformed: String,
    unknown_key: String,
    wrong_type: String,
}

fn write_bad_configs(env: &Dockhand) -> BadConfigs {
    let path = |p: PathBuf| p.display().to_string();
    BadConfigs {
        bad_mode: path(env.write(
            "bad-mode.yaml",
            "project: demo\nconfigVersion: 1\nimages_repo_mode: mono\n",
        )),
        // Line 3 opens a flow sequence that never closes.
        malformed: path(env.write(
            "malformed.yaml",
            "project: demo\nconfigVersion: 1\nimages_repo: [unclosed\n",
        )),
        // Line 6: a typo of `source`.
        unknown_key: path(env.write(
            "unknown-key.yaml",
            "project: demo\nconfigVersion: 1\n---\nimage: backend\ndockerfile: Dockerfile\nsourse: oci:build/backend\n",
        )),
        // Line 4: keep_last must be a number.
        wrong_type: path(env.write(
            "wrong-type.yaml",
            "project: demo\nconfigVersion: 1\ncleanup:\n  keep_last: many\n---\nimage: backend\n",
        )),
    }
}

#[test]
fn bad_input_exits_2_and_sends_nothing() {
    let registry = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&registry.url());
    let host = proxy.host();
    let env = Dockhand::new();
    let configs = write_bad_configs(&env);
    let at = |path: &str| format!("{host}/{path}");
    let detect = |repo: &str, extra: &[&str]| {
        let mut a = args(&["detect", "-i", repo, "--image", "backend"]);
        a.extend(args(extra));
        a
    };
    let long_tag = "t".repeat(129);

    let cases = vec![
        // The images repo address.
        bad("uppercase repo", detect(&at("Flant/App"), &[])).says(&[
            "--images-repo",
            "must be lowercase",
            "flant/app",
        ]),
        bad("scheme in repo", detect("https://x/y", &[])).says(&["--images-repo", "https://"]),
        bad(
            "scheme with the proxy host",
            detect(&format!("http://{host}/x"), &[]),
        )
        .says(&["--images-repo", "URL scheme"]),
        bad("doubled slash", detect(&at("a//b"), &[])).says(&[
            "--images-repo",
            "empty path component",
            "remove the extra '/'",
        ]),
        bad(
            "repo from the environment",
            args(&["detect", "--image", "backend"]),
        )
        .env("DOCKHAND_IMAGES_REPO", &at("Team/App"))
        .says(&["DOCKHAND_IMAGES_REPO", "must be lowercase"]),
        // The implementation.
        // A flag with fixed values is refused by clap, which lists them; the same value from
        // the environment or the config file gets the settings layer's message.
        bad(
            "unknown implementation",
            detect(&at("x"), &["--implementation", "dockerhubb"]),
        )
        .says(&[
            "--implementation",
            "'dockerhubb'",
            "possible values: default, ecr, acr, dockerhub",
            "a similar value exists: 'dockerhub'",
        ]),
        bad("unknown implementation from env", detect(&at("x"), &[]))
            .env("DOCKHAND_IMPLEMENTATION", "artifactory-ish")
            .says(&[
                "DOCKHAND_IMPLEMENTATION",
                "artifactory-ish",
                "hint: use one of",
            ]),
        bad(
            "unknown mode",
            detect(&at("x"), &["--images-repo-mode", "mono"]),
        )
        .says(&[
            "--images-repo-mode",
            "possible values: auto, multirepo, monorepo",
        ]),
        bad("unknown mode from env", detect(&at("x"), &[]))
            .env("DOCKHAND_IMAGES_REPO_MODE", "mono")
            .says(&[
                "DOCKHAND_IMAGES_REPO_MODE",
                "unknown images repo mode \"mono\"",
                "hint: use auto, multirepo or monorepo",
            ]),
        bad("unknown mode from an action input", detect(&at("x"), &[]))
            .env("INPUT_IMAGES_REPO_MODE", "mono")
            .says(&[
                "INPUT_IMAGES_REPO_MODE",
                "hint: use auto, multirepo or monorepo",
            ]),
        bad(
            "unknown mode from the config file",
            detect(&at("x"), &["--config", &configs.bad_mode]),
        )
        .says(&[
            &format!("{}: images_repo_mode", configs.bad_mode),
            "hint: use auto, multirepo or monorepo",
        ]),
        bad("unknown output", detect(&at("x"), &["--output", "yaml"]))
            .says(&["--output", "possible values: text, json"]),
        bad("unknown output from env", detect(&at("x"), &[]))
            .env("DOCKHAND_OUTPUT", "yaml")
            .says(&[
                "DOCKHAND_OUTPUT",
                "unknown output \"yaml\"",
                "hint: use text or json",
            ]),
        bad("unknown colour", detect(&at("x"), &["--color", "blue"]))
            .says(&["--color", "possible values: auto, always, never"]),
        bad("unknown colour from env", detect(&at("x"), &[]))
            .env("DOCKHAND_COLOR", "blue")
            .says(&[
                "DOCKHAND_COLOR",
                "unknown colour choice \"blue\"",
                "hint: use auto, always or never",
            ]),
        bad(
            "unknown git refs source",
            args(&[
                "cleanup",
                "-i",
                &at("x"),
                "--image",
                "a",
                "--git-refs",
                "svn",
            ]),
        )
        .says(&[
            "--git-refs",
            "possible values: auto, local, remote, github, gitlab, none",
        ]),
        bad(
            "unknown git refs source from an action input",
            args(&["cleanup", "-i", &at("x"), "--image", "a"]),
        )
        .env("INPUT_GIT_REFS", "svn")
        .says(&[
            "INPUT_GIT_REFS",
            "unknown git refs source \"svn\"",
            "hint: use auto, local, remote, github, gitlab or none",
        ]),
        // A mode the implementation cannot serve at this address.
        bad(
            "monorepo on a Docker Hub account",
            args(&[
                "detect",
                "-i",
                "flant",
                "--images-repo-mode",
                "monorepo",
                "--no-probe",
            ]),
        )
        .says(&[
            "flant",
            "hint: add a repository to the address, or use multirepo",
        ]),
        bad(
            "multirepo on a Docker Hub repository",
            args(&[
                "detect",
                "-i",
                "flant/project",
                "--images-repo-mode",
                "multirepo",
            ]),
        )
        .says(&[
            "flant/project",
            "hint: remove the repository from the address, or use monorepo",
        ]),
        bad(
            "monorepo on a Quay account",
            detect(
                &at("acme"),
                &["--implementation", "quay", "--images-repo-mode", "monorepo"],
            ),
        )
        .says(&[
            "acme",
            "hint: add a repository to the address, or use multirepo",
        ]),
        bad(
            "multirepo on a Quay repository",
            detect(
                &at("acme/app"),
                &[
                    "--implementation",
                    "quay",
                    "--images-repo-mode",
                    "multirepo",
                ],
            ),
        )
        .says(&[
            "acme/app",
            "hint: remove the repository from the address, or use monorepo",
        ]),
        bad(
            "monorepo on a bare registry",
            args(&[
                "detect",
                "-i",
                &host,
                "--images-repo-mode",
                "monorepo",
                "--implementation",
                "default",
            ]),
        )
        .says(&["bare registry", "monorepo", "hint:"]),
        bad(
            "unnamed image on a bare registry",
            args(&[
                "detect",
                "-i",
                &host,
                "--image",
                "~",
                "--implementation",
                "default",
            ]),
        )
        .says(&["unnamed image", "hint:"]),
        // Addresses an implementation cannot serve in any mode.
        bad("bare ghcr.io", detect("ghcr.io", &[])).says(&[
            "\"ghcr.io\"",
            "hint: use an address such as HOST/ACCOUNT/REPOSITORY",
        ]),
        bad(
            "Quay repository nested too deep",
            detect("quay.io/acme/app/x", &[]),
        )
        .says(&["quay.io/acme/app/x", "hint:"]),
        bad(
            "Artifact Registry without a repository",
            detect("us-docker.pkg.dev/my-project", &[]),
        )
        .says(&["us-docker.pkg.dev/my-project", "hint:"]),
        // The config file.
        bad(
            "malformed YAML",
            detect(&at("x"), &["--config", &configs.malformed]),
        )
        .says(&[&format!("{}:", configs.malformed), "hint:"]),
        bad(
            "unknown key in an image document",
            detect(&at("x"), &["--config", &configs.unknown_key]),
        )
        .says(&[&format!("{}:6:", configs.unknown_key), "sourse"]),
        bad(
            "wrong type in cleanup.keep_last",
            detect(&at("x"), &["--config", &configs.wrong_type]),
        )
        .says(&[&format!("{}:4:", configs.wrong_type), "cleanup.keep_last"]),
        bad(
            "missing config file",
            detect(&at("x"), &["--config", "no-such-dockhand.yaml"]),
        )
        .says(&["no-such-dockhand.yaml", "does not exist"]),
        // Tags, images and numbers.
        bad(
            "tag over 128 characters",
            detect(&at("x"), &["--tag-custom", &long_tag]),
        )
        .says(&["--tag-custom", "128"]),
        bad(
            "tag with a slash",
            detect(&at("x"), &["--tag-custom", "feature/x"]),
        )
        .says(&["--tag-custom", "feature/x"]),
        bad("bad tag from the environment", detect(&at("x"), &[]))
            .env("DOCKHAND_TAG_CUSTOM", "ok,.bad")
            .says(&["DOCKHAND_TAG_CUSTOM", ".bad"]),
        bad(
            "uppercase image name",
            args(&["detect", "-i", &at("x"), "--image", "Backend=oci:dir"]),
        )
        .says(&["--image", "Backend"]),
        bad("concurrency 0", detect(&at("x"), &["--concurrency", "0"]))
            .says(&["--concurrency", "1 to 256"]),
        bad(
            "max manifest size 0",
            detect(&at("x"), &["--max-manifest-size", "0"]),
        )
        .says(&["--max-manifest-size", "1KiB to 1GiB"]),
        bad("max manifest size in furlongs", detect(&at("x"), &[]))
            .env("DOCKHAND_MAX_MANIFEST_SIZE", "8 furlongs")
            .says(&["DOCKHAND_MAX_MANIFEST_SIZE", "8 furlongs", "MiB"]),
        bad("output xml", detect(&at("x"), &[]))
            .env("DOCKHAND_OUTPUT", "xml")
            .says(&["DOCKHAND_OUTPUT", "xml", "hint: use text or json"]),
        bad(
            "negative keep-last",
            args(&[
                "cleanup",
                "-i",
                &at("x"),
                "--image",
                "backend",
                "--keep-last=-1",
            ]),
        )
        .says(&["--keep-last", "-1", "hint:"]),
        bad(
            "negative keep-last from env",
            args(&["cleanup", "-i", &at("x"), "--image", "backend"]),
        )
        .env("DOCKHAND_KEEP_LAST", "-1")
        .says(&["DOCKHAND_KEEP_LAST", "hint:"]),
        bad(
            "bad duration",
            args(&[
                "cleanup",
                "-i",
                &at("x"),
                "--image",
                "backend",
                "--keep-younger-than",
                "soon",
            ]),
        )
        .says(&["--keep-younger-than", "soon", "hint:"]),
        bad(
            "bad keep-tag pattern",
            args(&[
                "cleanup",
                "-i",
                &at("x"),
                "--image",
                "backend",
                "--keep-tag",
                "(unclosed",
            ]),
        )
        .says(&["--keep-tag", "(unclosed"]),
        bad("bad boolean in env", detect(&at("x"), &[]))
            .env("DOCKHAND_NO_PROBE", "perhaps")
            .says(&["DOCKHAND_NO_PROBE", "perhaps"]),
        // clap usage errors.
        bad("unknown flag", detect(&at("x"), &["--bogus-flag"])).says(&["--bogus-flag", "Usage"]),
        bad("unknown command", args(&["deploy", "-i", &at("x")])).says(&["deploy", "Usage"]),
    ];
    let total = cases.len();
    assert_no_failures(run_bad_cases(&env, &proxy, &cases), total);
}

/// Layout errors that do not depend on the implementation must not wait for the probe.
#[test]
fn bad_layout_is_rejected_before_probing() {
    let registry = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&registry.url());
    let host = proxy.host();
    let env = Dockhand::new();
    let cases = vec![
        bad(
            "monorepo on a bare registry, probing on",
            args(&[
                "detect",
                "-i",
                &host,
                "--image",
                "backend",
                "--images-repo-mode",
                "monorepo",
            ]),
        )
        .says(&["bare registry", "hint:"]),
        bad(
            "unnamed image on a bare registry, probing on",
            args(&["detect", "-i", &host, "--image", "~"]),
        )
        .says(&["unnamed image", "hint:"]),
    ];
    let total = cases.len();
    assert_no_failures(run_bad_cases(&env, &proxy, &cases), total);
}

#[test]
fn negative_keep_last_names_the_flag() {
    let registry = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&registry.url());
    let repo = format!("{}/x", proxy.host());
    let cases = vec![
        bad(
            "negative keep-last, separate value",
            args(&[
                "cleanup",
                "-i",
                &repo,
                "--image",
                "backend",
                "--keep-last",
                "-1",
            ]),
        )
        .says(&["--keep-last", "-1", "hint:"]),
    ];
    assert_no_failures(run_bad_cases(&Dockhand::new(), &proxy, &cases), 1);
}

#[test]
fn missing_images_repo_is_bad_input() {
    dockhand(&["detect", "--image", "backend", "--no-probe"])
        .expect_code(2)
        .stderr_has("no images repo")
        .stderr_has("--images-repo");
}

// ---------------------------------------------------------------------------------------------
// ci-env outside a CI; help and version
// ---------------------------------------------------------------------------------------------

/// Outside any CI, ci-env says so and exits 0 (tests/it/ci.rs covers it inside CIs).
#[test]
fn ci_env_outside_ci() {
    let env = Dockhand::new();
    env.run(&["ci-env"])
        .expect_code(0)
        .stdout_has("not running in a CI");
}

#[test]
fn help_and_version() {
    let run = dockhand(&["--version"]);
    run.expect_code(0);
    assert_eq!(run.stdout.trim_end(), "dockhand 0.1.0", "{run:#?}");

    let run = dockhand(&["--help"]);
    run.expect_code(0);
    for command in ["publish", "cleanup", "run", "detect", "ci-env"] {
        run.stdout_has(&format!("  {command} "));
    }
    for code in [
        "Exit codes",
        "0 done",
        "1 a registry operation failed",
        "2 bad input",
        "3 authentication failed",
        "4 the registry cannot do it",
        "130 interrupted",
    ] {
        // `--help` wraps long lines; compare with whitespace collapsed.
        let flat = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(code), "--help lacks {code:?}: {run:#?}");
    }

    // Subcommand help works and exits 0 as well, with each option's variable and fixed values.
    dockhand(&["detect", "--help"])
        .expect_code(0)
        .stdout_has("--tag-custom")
        .stdout_has("[env: DOCKHAND_TAG_CUSTOM]")
        .stdout_has("Registry vendor options:")
        .stdout_has("monorepo");
    let run = dockhand(&["detect", "--help"]);
    let flat = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("[possible values: text, json]") || flat.contains("- json"),
        "{run:#?}"
    );
}

/// `dockhand completions bash` is a script bash accepts (`bash -n`), and sourcing it registers
/// the completion for dockhand (`complete -p dockhand`).
#[test]
fn bash_completions_parse_and_register() {
    let env = Dockhand::new();
    let run = env.run(&["completions", "bash"]);
    run.expect_code(0);
    assert!(run.stderr.is_empty(), "{run:#?}");
    let script = env.write("dockhand.bash", &run.stdout);
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run bash -n");
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let sourced = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p dockhand",
            script.display()
        ))
        .output()
        .expect("run bash");
    let out = String::from_utf8_lossy(&sourced.stdout);
    assert!(sourced.status.success(), "{sourced:?}");
    assert!(
        out.contains("complete") && out.contains(" dockhand"),
        "complete -p dockhand: {out}"
    );
    // The option values and subcommands are in it.
    for needle in ["cleanup", "completions", "--images-repo-mode", "multirepo"] {
        assert!(run.stdout.contains(needle), "completion lacks {needle}");
    }
    // The other shells and the man page print something too, without touching any settings.
    for shell in ["zsh", "fish", "powershell"] {
        let run = env.run_env(&["completions", shell], &[("DOCKHAND_OUTPUT", "yaml")]);
        run.expect_code(0);
        assert!(run.stdout.contains("dockhand"), "{shell}: {run:#?}");
    }
    env.run(&["man"])
        .expect_code(0)
        .stdout_has(".TH dockhand")
        .stdout_has("DOCKHAND_IMAGES_REPO");
    env.run(&["man", "cleanup"])
        .expect_code(0)
        .stdout_has(".TH dockhand-cleanup")
        .stdout_has("DOCKHAND_KEEP_LAST");
}
