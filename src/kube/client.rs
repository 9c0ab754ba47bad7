//! A minimal Kubernetes API client: one context, paged lists, nothing else.
//!
//! The project's `Transport` is built for registries (one client for all hosts, registry
//! challenges, scopes); it cannot hold a per-cluster certificate authority or client identity.
//! So each context gets its own `reqwest::Client` here, with the same connect and read timeouts
//! and user agent as `TransportConfig`.
//!
//! Lists follow "Retrieving large results sets in chunks"
//! (https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks):
//! `limit` and the `metadata.continue` token; an expired token answers `410 Gone`, and the list
//! is then restarted once from the beginning.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::Value;
use url::Url;

use super::KubeError;
use super::kubeconfig::{Context, ExecConfig};
use crate::registry::transport::{TransportConfig, basic_value, bearer_value};
use crate::secret::Secret;

/// Items asked for per page.
pub const PAGE_LIMIT: u32 = 500;
/// Pages one list may take (as `registry::paging::MAX_PAGES` bounds registry listings).
pub const MAX_PAGES: usize = crate::registry::paging::MAX_PAGES;
/// Longest an exec credential plugin may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Timeouts and user agent, taken from the transport's configuration.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub user_agent: String,
}

impl From<&TransportConfig> for HttpOptions {
    fn from(c: &TransportConfig) -> Self {
        HttpOptions {
            connect_timeout: c.connect_timeout,
            read_timeout: c.read_timeout,
            user_agent: c.user_agent.clone(),
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions::from(&TransportConfig::default())
    }
}

// ---------------------------------------------------------------------------------------------
// Exec credential plugins.

/// What an exec plugin returned (`ExecCredential.status`).
#[derive(Debug, Clone)]
pub struct ExecCredential {
    pub token: Option<Secret>,
    /// PEM of the client certificate and key.
    pub client_cert: Option<(Vec<u8>, Secret)>,
    pub expires: Option<SystemTime>,
}

/// Parses a plugin's standard output
/// (https://kubernetes.io/docs/reference/config-api/client-authentication.v1/). Pure.
pub fn parse_exec_credential(output: &[u8], api_version: &str) -> Result<ExecCredential, String> {
    let v: Value =
        serde_json::from_slice(output).map_err(|e| format!("output is not JSON: {e}"))?;
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "ExecCredential" {
        return Err(format!("output has kind {kind:?}, not \"ExecCredential\""));
    }
    let got = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got != api_version {
        return Err(format!(
            "output has apiVersion {got:?}, the kubeconfig asks for {api_version:?}"
        ));
    }
    let status = v
        .get("status")
        .ok_or("output has no status (interactive plugins are not supported)")?;
    let text = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let token = text("token").map(Secret::new);
    let client_cert = match (text("clientCertificateData"), text("clientKeyData")) {
        (Some(c), Some(k)) => Some((c.as_bytes().to_vec(), Secret::new(k))),
        (None, None) => None,
        _ => {
            return Err(
                "status has only one of clientCertificateData and clientKeyData".to_string(),
            );
        }
    };
    if token.is_none() && client_cert.is_none() {
        return Err("status has neither a token nor a client certificate".into());
    }
    let expires = match text("expirationTimestamp") {
        Some(t) => Some(
            humantime::parse_rfc3339_weak(t)
                .map_err(|e| format!("status.expirationTimestamp {t:?}: {e}"))?,
        ),
        None => None,
    };
    Ok(ExecCredential {
        token,
        client_cert,
        expires,
    })
}

/// Exec credentials of this run, per kubeconfig user, until they expire.
#[derive(Default)]
pub struct ExecCache {
    entries: Mutex<HashMap<String, ExecCredential>>,
}

impl ExecCache {
    pub async fn get(&self, context: &str, exec: &ExecConfig) -> Result<ExecCredential, KubeError> {
        if let Some(c) = self.cached(&exec.key) {
            return Ok(c);
        }
        let c = run_exec(context, exec).await?;
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(exec.key.clone(), c.clone());
        Ok(c)
    }

    fn cached(&self, key: &str) -> Option<ExecCredential> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let c = entries.get(key)?;
        // A credential that expires within a minute is fetched again.
        match c.expires {
            Some(t) if t <= SystemTime::now() + Duration::from_secs(60) => None,
            _ => Some(c.clone()),
        }
    }
}

async fn run_exec(context: &str, exec: &ExecConfig) -> Result<ExecCredential, KubeError> {
    let fail = |message: String| KubeError::Exec {
        context: context.to_string(),
        command: exec.command.display().to_string(),
        message,
    };
    let info = serde_json::json!({
        "apiVersion": exec.api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": false},
    });
    let mut cmd = tokio::process::Command::new(&exec.command);
    cmd.args(&exec.args)
        .envs(exec.env.iter().map(|(k, v)| (k, v)))
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| {
        let hint = exec
            .install_hint
            .as_deref()
            .map(|h| format!(" ({})", h.trim()))
            .unwrap_or_default();
        fail(format!("cannot start: {e}{hint}"))
    })?;
    let out = tokio::time::timeout(EXEC_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("no answer within {} s", EXEC_TIMEOUT.as_secs())))?
        .map_err(|e| fail(format!("failed: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr.trim().chars().take(500).collect();
        return Err(fail(format!(
            "exited with {}: {}",
            out.status,
            crate::secret::scrub(&tail)
        )));
    }
    parse_exec_credential(&out.stdout, &exec.api_version).map_err(fail)
}

// ---------------------------------------------------------------------------------------------
// The client.

/// What [`ApiClient::list_pages`] hands over.
pub enum Page<'a> {
    /// The items of one page.
    Items(&'a [Value]),
    /// The continue token expired and the list starts over: forget the pages so far.
    Restart,
}

/// One context's connection to its API server.
pub struct ApiClient {
    context: String,
    /// The kubeconfig's `server`, for messages (`base` may carry `tls-server-name` instead).
    server: String,
    base: Url,
    http: reqwest::Client,
    auth: Option<HeaderValue>,
    /// Requests sent (for reports and tests).
    pub requests: std::sync::atomic::AtomicUsize,
}

impl ApiClient {
    /// Builds the client for `ctx`, running its exec plugin if it has one.
    pub async fn connect(
        ctx: &Context,
        options: &HttpOptions,
        exec_cache: &ExecCache,
    ) -> Result<ApiClient, KubeError> {
        let context = ctx.name.clone();
        let setup = |message: String| KubeError::Setup {
            context: context.clone(),
            message,
        };
        let mut token = ctx.user.token.clone();
        let mut client_cert = ctx.user.client_cert.clone();
        if let Some(exec) = &ctx.user.exec {
            let c = exec_cache.get(&ctx.name, exec).await?;
            token = c.token.or(token);
            client_cert = c.client_cert.or(client_cert);
        }
        let mut b = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout);
        let cluster = &ctx.cluster;
        if cluster.insecure_skip_tls_verify {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(pem) = &cluster.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                setup(format!(
                    "the certificate authority of cluster {} is not PEM: {e}",
                    cluster.name
                ))
            })?;
            if certs.is_empty() {
                return Err(setup(format!(
                    "the certificate authority of cluster {} holds no certificate",
                    cluster.name
                )));
            }
            // The kubeconfig's authority replaces the system's, as kubectl does.
            b = b.tls_certs_only(certs);
        }
        if let Some((cert, key)) = &client_cert {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key.expose().as_bytes());
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                setup(format!(
                    "the client certificate of user {} is not a PEM certificate and key: {e}",
                    ctx.user.name
                ))
            })?;
            b = b.identity(id);
        }
        let mut base = cluster.server.clone();
        if let Some(name) = &cluster.tls_server_name
            && base.scheme() == "https"
        {
            // The certificate is checked against `tls-server-name`: the request goes to that name,
            // which resolves to the server's own addresses.
            let host = base.host_str().unwrap_or_default().to_string();
            let port = base.port_or_known_default().unwrap_or(443);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| KubeError::Unreachable {
                    context: context.clone(),
                    server: cluster.server.to_string(),
                    message: format!("cannot resolve {host}: {e}"),
                })?
                .collect();
            base.set_host(Some(name))
                .map_err(|e| setup(format!("tls-server-name {name:?}: {e}")))?;
            b = b.resolve_to_addrs(name, &addrs);
        }
        let http = b
            .build()
            .map_err(|e| setup(format!("cannot set up the HTTP client: {e}")))?;
        let auth = match (&token, &ctx.user.basic) {
            (Some(t), _) => Some(bearer_value(t).ok_or_else(|| {
                setup("the token holds characters not allowed in a header".into())
            })?),
            (None, Some((user, pw))) => Some(basic_value(user, pw.expose()).ok_or_else(|| {
                setup("the username or password holds characters not allowed in a header".into())
            })?),
            (None, None) => None,
        };
        Ok(ApiClient {
            context,
            server: crate::secret::redact_url(&cluster.server),
            base,
            http,
            auth,
            requests: Default::default(),
        })
    }

    /// Every item of a list (`path` such as `/api/v1/pods`), following `continue` tokens.
    /// Returns the items and the number of pages read.
    pub async fn list(&self, path: &str) -> Result<(Vec<Value>, usize), KubeError> {
        let mut items = Vec::new();
        let pages = self
            .list_pages(path, &mut |page| match page {
                Page::Items(a) => items.extend(a.iter().cloned()),
                Page::Restart => items.clear(),
            })
            .await?;
        Ok((items, pages))
    }

    /// Reads a list page by page, handing each page's items to `on_page` (so a large cluster's
    /// list is never held whole). After [`Page::Restart`] the list is read again from the start:
    /// what the earlier pages gave must be dropped. Returns the number of pages of the last pass.
    pub async fn list_pages(
        &self,
        path: &str,
        on_page: &mut dyn FnMut(Page<'_>),
    ) -> Result<usize, KubeError> {
        let mut restarted = false;
        'restart: loop {
            let mut seen = HashSet::new();
            let mut token: Option<String> = None;
            for page in 1..=MAX_PAGES {
                let mut url = self.base.clone();
                {
                    let base_path = url.path().trim_end_matches('/').to_string();
                    url.set_path(&format!("{base_path}{path}"));
                }
                url.query_pairs_mut()
                    .append_pair("limit", &PAGE_LIMIT.to_string());
                if let Some(t) = &token {
                    url.query_pairs_mut().append_pair("continue", t);
                }
                let body = match self.get(&url, path).await {
                    Err(KubeError::Gone { .. }) if token.is_some() && !restarted => {
                        // The continue token expired: the list starts over, once.
                        restarted = true;
                        on_page(Page::Restart);
                        continue 'restart;
                    }
                    other => other?,
                };
                match body.get("items") {
                    Some(Value::Array(a)) => on_page(Page::Items(a)),
                    Some(Value::Null) | None => {}
                    Some(_) => return Err(self.malformed(path, "items is not a list")),
                }
                let next = body
                    .pointer("/metadata/continue")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty());
                match next {
                    None => return Ok(page),
                    Some(t) => {
                        if !seen.insert(t.to_string()) {
                            return Err(self.malformed(
                                path,
                                "the server sent the same continue token twice (a listing loop)",
                            ));
                        }
                        token = Some(t.to_string());
                    }
                }
            }
            return Err(self.malformed(
                path,
                &format!("the list did not end within {MAX_PAGES} pages"),
            ));
        }
    }

    fn malformed(&self, path: &str, message: &str) -> KubeError {
        KubeError::Api {
            context: self.context.clone(),
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    async fn get(&self, url: &Url, path: &str) -> Result<Value, KubeError> {
        let mut req = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let resp = req.send().await.map_err(|e| KubeError::Unreachable {
            context: self.context.clone(),
            server: self.server.clone(),
            message: crate::secret::scrub(&error_chain(&e)),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| KubeError::Unreachable {
            context: self.context.clone(),
            server: self.server.clone(),
            message: format!("reading GET {path}: {}", error_chain(&e)),
        })?;
        let detail = || {
            // A Status object's message, if any
            // (https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind).
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .map(|m| crate::secret::scrub(&m))
                .unwrap_or_default()
        };
        match status {
            s if s.is_success() => serde_json::from_slice(&bytes)
                .map_err(|e| self.malformed(path, &format!("the answer is not JSON: {e}"))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(KubeError::Refused {
                context: self.context.clone(),
                path: path.to_string(),
                status: status.as_u16(),
                detail: detail(),
            }),
            StatusCode::GONE => Err(KubeError::Gone {
                context: self.context.clone(),
                path: path.to_string(),
            }),
            s if s.is_server_error() => Err(KubeError::Unreachable {
                context: self.context.clone(),
                server: self.server.clone(),
                message: format!("GET {path} answered {status}: {}", detail()),
            }),
            _ => Err(self.malformed(path, &format!("answered {status}: {}", detail()))),
        }
    }
}

/// A reqwest error with its causes, in one line.
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Base64 of `data` (for tests that write `-data` fields).
pub fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_credential_token_and_expiry() {
        let out = br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
            "status":{"token":"exec-token-abcdef","expirationTimestamp":"2030-01-02T03:04:05Z"}}"#;
        let c = parse_exec_credential(out, "client.authentication.k8s.io/v1").unwrap();
        assert_eq!(c.token.unwrap().expose(), "exec-token-abcdef");
        assert_eq!(
            c.expires,
            Some(humantime::parse_rfc3339("2030-01-02T03:04:05Z").unwrap())
        );
        assert_eq!(crate::secret::scrub("x exec-token-abcdef"), "x ***");
    }

    #[test]
    fn exec_credential_client_certificate() {
        let out = br#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",
            "status":{"clientCertificateData":"-----BEGIN CERTIFICATE-----","clientKeyData":"-----BEGIN PRIVATE KEY-----"}}"#;
        let c = parse_exec_credential(out, "client.authentication.k8s.io/v1beta1").unwrap();
        assert!(c.token.is_none() && c.expires.is_none());
        assert_eq!(c.client_cert.unwrap().0, b"-----BEGIN CERTIFICATE-----");
    }

    #[test]
    fn exec_credential_refusals() {
        let v1 = "client.authentication.k8s.io/v1";
        for (out, want) in [
            (&b"not json"[..], "not JSON"),
            (br#"{"kind":"Other","apiVersion":"client.authentication.k8s.io/v1"}"#, "kind"),
            (br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}}"#, "apiVersion"),
            (br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"}"#, "no status"),
            (br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{}}"#, "neither"),
            (br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"clientKeyData":"k"}}"#, "only one"),
            (br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t","expirationTimestamp":"soon"}}"#, "expirationTimestamp"),
        ] {
            let e = parse_exec_credential(out, v1).unwrap_err();
            assert!(e.contains(want), "{e} should mention {want}");
        }
    }

    #[tokio::test]
    async fn a_missing_plugin_names_the_context_and_its_install_hint() {
        let exec = ExecConfig {
            key: "k".into(),
            command: "/nonexistent/kube-login".into(),
            args: vec![],
            env: vec![],
            api_version: "client.authentication.k8s.io/v1".into(),
            install_hint: Some("install kube-login from your platform team".into()),
        };
        let e = crate::Error::from(ExecCache::default().get("prod", &exec).await.unwrap_err());
        assert_eq!(e.kind, crate::Kind::Auth);
        assert!(
            e.message.contains("context prod")
                && e.message.contains("/nonexistent/kube-login")
                && e.message.contains("install kube-login"),
            "{e}"
        );
    }

    #[test]
    fn expired_exec_credentials_are_not_reused() {
        let cache = ExecCache::default();
        let put = |key: &str, expires: Option<SystemTime>| {
            cache.entries.lock().unwrap().insert(
                key.into(),
                ExecCredential {
                    token: Some(Secret::new("cached-token-1")),
                    client_cert: None,
                    expires,
                },
            );
        };
        put("never", None);
        put("later", Some(SystemTime::now() + Duration::from_secs(3600)));
        put("past", Some(SystemTime::now() - Duration::from_secs(1)));
        assert!(cache.cached("never").is_some());
        assert!(cache.cached("later").is_some());
        assert!(cache.cached("past").is_none());
    }

    #[test]
    fn a_ca_and_client_identity_build_a_client() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["kube.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let config = format!(
            "clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1', certificate-authority-data: {}}}}}]\n\
             users: [{{name: u, user: {{client-certificate-data: {}, client-key-data: {}}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\n",
            base64(cert.pem().as_bytes()),
            base64(cert.pem().as_bytes()),
            base64(key.serialize_pem().as_bytes()),
        );
        let k = super::super::kubeconfig::merge(vec![
            super::super::kubeconfig::parse(std::path::Path::new("/k"), &config).unwrap(),
        ]);
        let ctx = k.resolve("x").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(ApiClient::connect(
            &ctx,
            &HttpOptions::default(),
            &ExecCache::default(),
        ))
        .unwrap();
    }
}
