//! A real `docker-registry` 2.8 (CNCF distribution) process on 127.0.0.1.
//!
//! See docs/registries.md#real-servers-in-the-tests. The process runs under a tiny `sh` watchdog
//! whose
//! stdin is a pipe from the test process: when the test process dies for any
//! reason (even SIGKILL), the pipe closes and the watchdog kills the registry,
//! so no registry outlives its test binary.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::ports::free_port;
use super::token_server::TokenServer;

/// The registry binary (Debian package `docker-registry`).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// `http.secret` written into every config.
pub const HTTP_SECRET: &str = "dockhand-test-http-secret";
/// `auth.htpasswd.realm`.
pub const HTPASSWD_REALM: &str = "dockhand-test";

const START_TIMEOUT: Duration = Duration::from_secs(10);
const PORT_ATTEMPTS: usize = 5;

/// How the registry authenticates (only one provider may be configured).
pub enum RegistryAuth<'a> {
    Anonymous,
    /// Basic auth; users and plain passwords, written as bcrypt `$2y$` lines.
    Htpasswd(Vec<(&'a str, &'a str)>),
    /// Bearer auth against this token server.
    Token(&'a TokenServer),
}

/// Options for [`RegistryServer::start`].
pub struct RegistryOptions<'a> {
    pub auth: RegistryAuth<'a>,
    /// `storage.delete.enabled`; when false every DELETE gives 405 `UNSUPPORTED`.
    pub delete_enabled: bool,
}

impl Default for RegistryOptions<'_> {
    fn default() -> Self {
        RegistryOptions {
            auth: RegistryAuth::Anonymous,
            delete_enabled: true,
        }
    }
}

/// A running registry; killed on drop, its temp dir removed.
pub struct RegistryServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    /// Config text without the `http.addr` line's port filled in.
    config_template: String,
    env: Vec<(String, String)>,
}

impl RegistryServer {
    /// Starts a registry and waits until `GET /v2/` answers 200 or 401.
    /// Panics (with the registry's log) if it does not come up within ~10 s.
    pub fn start(opts: RegistryOptions<'_>) -> RegistryServer {
        RegistryServer::start_with_env(opts, &[])
    }

    /// Anonymous, delete enabled.
    pub fn anonymous() -> RegistryServer {
        RegistryServer::start(RegistryOptions::default())
    }

    /// Like [`start`](Self::start), with extra `REGISTRY_*` environment
    /// overrides (e.g. `("REGISTRY_LOG_LEVEL", "debug")`).
    pub fn start_with_env(opts: RegistryOptions<'_>, env: &[(&str, &str)]) -> RegistryServer {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: install the Debian package `docker-registry`"
        );
        let dir = tempfile::Builder::new()
            .prefix("dockhand-registry-")
            .tempdir()
            .expect("create registry temp dir");
        let data = dir.path().join("data");
        fs::create_dir_all(&data).expect("create storage dir");

        let auth = match &opts.auth {
            RegistryAuth::Anonymous => String::new(),
            RegistryAuth::Htpasswd(users) => {
                let path = dir.path().join("htpasswd");
                let mut text = String::new();
                for (user, pass) in users {
                    // Cost 4 (the minimum): the registry checks bcrypt on every
                    // request, and cost 12 would add ~0.2 s to each one.
                    let hash = bcrypt::hash_with_result(pass, 4)
                        .expect("bcrypt hash")
                        .format_for_version(bcrypt::Version::TwoY);
                    text.push_str(&format!("{user}:{hash}\n"));
                }
                fs::write(&path, text).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
                    yaml_str(HTPASSWD_REALM),
                    yaml_str(&path.to_string_lossy())
                )
            }
            RegistryAuth::Token(ts) => {
                let path = dir.path().join("token-ca.pem");
                fs::write(&path, ts.cert_pem()).expect("write rootcertbundle");
                format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    yaml_str(&ts.realm()),
                    yaml_str(ts.service()),
                    yaml_str(ts.issuer()),
                    yaml_str(&path.to_string_lossy())
                )
            }
        };
        let config_template = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:@PORT@\n  secret: {}\n\
             {auth}",
            yaml_str(&data.to_string_lossy()),
            opts.delete_enabled,
            yaml_str(HTTP_SECRET),
        );
        let mut server = RegistryServer {
            child: None,
            port: 0,
            dir,
            config_template,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.launch(None);
        server
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Storage root (`storage.filesystem.rootdirectory`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The config file in use.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    /// Everything the registry wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Stops the registry, runs `docker-registry garbage-collect` on its
    /// storage, restarts it on the same port and returns GC's output.
    ///
    /// On an empty storage (no repository pushed yet) 2.8's GC fails with
    /// `Path not found: /docker/registry/v2/repositories`; this helper then
    /// skips GC and returns an empty string.
    pub fn garbage_collect(&mut self, delete_untagged: bool) -> String {
        if !self.root().join("docker/registry/v2/repositories").exists() {
            return String::new();
        }
        self.stop();
        let mut cmd = Command::new(REGISTRY_BIN);
        cmd.arg("garbage-collect");
        if delete_untagged {
            cmd.arg("--delete-untagged");
        }
        cmd.arg(self.config_path());
        scrub_env(&mut cmd);
        let out = cmd.output().expect("run docker-registry garbage-collect");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "garbage-collect failed:\n{text}");
        let port = self.port;
        self.launch(Some(port));
        text
    }

    fn launch(&mut self, mut port: Option<u16>) {
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let p = port.take().unwrap_or_else(free_port);
            match self.spawn_on(p) {
                Ok(()) => return,
                Err(log) => last_log = log,
            }
        }
        panic!(
            "docker-registry could not bind a port after {PORT_ATTEMPTS} attempts; last log:\n{last_log}"
        );
    }

    /// Ok when ready; Err(log) when the port was taken (caller retries);
    /// panics on any other failure.
    fn spawn_on(&mut self, port: u16) -> Result<(), String> {
        let config = self.config_template.replace("@PORT@", &port.to_string());
        fs::write(self.config_path(), &config).expect("write registry config");
        let log = File::create(self.log_path()).expect("create registry log");
        let log2 = log.try_clone().expect("clone log handle");
        // Watchdog: the registry is killed when our end of stdin closes
        // (on Drop, or when the test process dies).
        let script = r#"exec 3<&0
"$0" serve "$1" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill -9 "$pid" 2>/dev/null ) &
exec 3<&-
wait "$pid"
"#;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .arg(REGISTRY_BIN)
            .arg(self.config_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        scrub_env(&mut cmd);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn docker-registry");
        self.child = Some(child);
        self.port = port;

        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                let log = self.log();
                self.stop();
                if log.contains("address already in use") {
                    return Err(log);
                }
                panic!(
                    "docker-registry exited during start-up ({status}); config:\n{config}\nlog:\n{log}"
                );
            }
            if matches!(probe_v2(addr), Some(200 | 401)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self.log();
                self.stop();
                panic!(
                    "docker-registry did not answer GET /v2/ on {addr} within {START_TIMEOUT:?}; config:\n{config}\nlog:\n{log}"
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Kills the registry (closing the watchdog's stdin first).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        // Make sure the port is released before a restart reuses it.
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + Duration::from_secs(2);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes inherited `REGISTRY_*` variables (they would override the config)
/// and proxy settings.
fn scrub_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("REGISTRY_") || k.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(k);
        }
    }
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("json string")
}

/// Raw `GET /v2/` (no HTTP client needed); returns the status code.
fn probe_v2(addr: SocketAddr) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = [0u8; 32];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.get(9..12)?.parse().ok()
}
