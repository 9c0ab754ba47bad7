//! A minimal OCI registry client for seeding and inspecting registries in
//! tests without going through dockhand. It handles Basic and Bearer
//! challenges by itself (resend once after a 401) and panics with the
//! registry's answer on anything unexpected.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use super::util::{parse_challenge, sha256_digest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// `Accept` listing every manifest type (never schema 1).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// Credentials for [`RegistryClient`].
#[derive(Clone, Debug, Default)]
pub enum Creds {
    /// No credentials; anonymous Bearer tokens are still fetched on a Bearer
    /// challenge.
    #[default]
    Anonymous,
    /// Sent as Basic on a Basic challenge, or to the token realm on a Bearer
    /// challenge.
    Basic(String, String),
}

impl Creds {
    pub fn basic(user: &str, password: &str) -> Creds {
        Creds::Basic(user.into(), password.into())
    }
}

/// A manifest as fetched.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub media_type: String,
    /// `Docker-Content-Digest` (or the sha256 of the body when absent).
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Manifest {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).expect("manifest is JSON")
    }
}

/// What [`RegistryClient::push_image`] stored.
#[derive(Clone, Debug)]
pub struct PushedImage {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

/// What [`RegistryClient::push_index`] stored.
#[derive(Clone, Debug)]
pub struct PushedIndex {
    pub digest: String,
    pub index: Vec<u8>,
    /// One per platform, in index order (linux/amd64, linux/arm64).
    pub children: Vec<PushedImage>,
}

/// A small registry client (see the module docs).
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    creds: Creds,
    /// The `Authorization` value that worked last.
    auth: Mutex<Option<String>>,
}

impl RegistryClient {
    /// `base_url` like `http://127.0.0.1:5000` (no trailing slash needed).
    pub fn new(base_url: &str, creds: Creds) -> RegistryClient {
        RegistryClient {
            http: http_client(),
            base: base_url.trim_end_matches('/').to_string(),
            creds,
            auth: Mutex::new(None),
        }
    }

    /// Sends a request with auth handling: uses the last working
    /// `Authorization`; on a 401 answers the challenge once and resends.
    /// `path_or_url` is a path (`/v2/...`) or an absolute URL (a `Location`).
    pub async fn send(
        &self,
        method: Method,
        path_or_url: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Response {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        };
        let build = |auth: Option<&str>| {
            let mut rb = self
                .http
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(a) = auth {
                rb = rb.header(reqwest::header::AUTHORIZATION, a);
            }
            if let Some(b) = &body {
                rb = rb.body(b.clone());
            }
            rb
        };
        let current = self.auth.lock().unwrap().clone();
        let resp = build(current.as_deref())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        if resp.status() != StatusCode::UNAUTHORIZED {
            return resp;
        }
        let Some(challenge) = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
        else {
            return resp;
        };
        let Some(new_auth) = self.answer_challenge(&challenge).await else {
            return resp;
        };
        if current.as_deref() == Some(new_auth.as_str()) {
            return resp;
        }
        let resp = build(Some(&new_auth))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        if resp.status() != StatusCode::UNAUTHORIZED {
            *self.auth.lock().unwrap() = Some(new_auth);
        }
        resp
    }

    /// The `Authorization` value answering `challenge`, or None if the
    /// credentials cannot answer it.
    async fn answer_challenge(&self, challenge: &str) -> Option<String> {
        let (scheme, params) = parse_challenge(challenge);
        match (scheme.as_str(), &self.creds) {
            ("basic", Creds::Basic(u, p)) => {
                use base64::Engine;
                let enc = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                Some(format!("Basic {enc}"))
            }
            ("bearer", creds) => {
                let realm = params.get("realm")?;
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = params.get("service") {
                    query.push(("service", s));
                }
                if let Some(scope) = params.get("scope") {
                    for s in scope.split(' ').filter(|s| !s.is_empty()) {
                        query.push(("scope", s));
                    }
                }
                let mut rb = self.http.get(realm).query(&query);
                if let Creds::Basic(u, p) = creds {
                    rb = rb.basic_auth(u, Some(p));
                }
                let resp = rb
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("token request to {realm}: {e}"));
                if !resp.status().is_success() {
                    return None;
                }
                let v: serde_json::Value = resp.json().await.expect("token JSON");
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .expect("token reply has token or access_token");
                Some(format!("Bearer {token}"))
            }
            _ => None,
        }
    }

    /// `GET /v2/` status.
    pub async fn ping(&self) -> StatusCode {
        self.send(Method::GET, "/v2/", HeaderMap::new(), None)
            .await
            .status()
    }

    /// Monolithic upload (POST, then PUT `?digest=`); returns the digest.
    pub async fn upload_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let resp = self
            .send(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/"),
                HeaderMap::new(),
                None,
            )
            .await;
        let resp = expect_status(resp, &[202], &format!("POST blob upload to {repo}")).await;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_string();
        let location = if location.starts_with('/') {
            format!("{}{}", self.base, location)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let resp = self
            .send(
                Method::PUT,
                &format!("{location}{sep}digest={digest}"),
                headers,
                Some(Bytes::copy_from_slice(data)),
            )
            .await;
        expect_status(resp, &[201], &format!("PUT blob {digest} to {repo}")).await;
        digest
    }

    /// PUT a manifest under `reference` (tag or digest); returns the digest
    /// (checked against `Docker-Content-Digest`).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let digest = sha256_digest(bytes);
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_str(media_type).expect("media type header"),
        );
        let resp = self
            .send(
                Method::PUT,
                &format!("/v2/{repo}/manifests/{reference}"),
                headers,
                Some(Bytes::copy_from_slice(bytes)),
            )
            .await;
        let resp = expect_status(resp, &[201], &format!("PUT manifest {repo}:{reference}")).await;
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            assert_eq!(d, digest, "registry digest differs from ours");
        }
        digest
    }

    /// GET a manifest with the full Accept; None on 404.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Option<Manifest> {
        let resp = self
            .send(
                Method::GET,
                &format!("/v2/{repo}/manifests/{reference}"),
                accept_headers(),
                None,
            )
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let resp = expect_status(resp, &[200], &format!("GET manifest {repo}:{reference}")).await;
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = resp.bytes().await.expect("manifest body").to_vec();
        Some(Manifest {
            media_type,
            digest: header_digest.unwrap_or_else(|| sha256_digest(&bytes)),
            bytes,
        })
    }

    /// HEAD a manifest with the full Accept; the digest, or None on 404.
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Option<String> {
        let resp = self
            .send(
                Method::HEAD,
                &format!("/v2/{repo}/manifests/{reference}"),
                accept_headers(),
                None,
            )
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let resp = expect_status(resp, &[200], &format!("HEAD manifest {repo}:{reference}")).await;
        resp.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }

    /// DELETE a manifest by digest (or tag); returns the status.
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> StatusCode {
        self.send(
            Method::DELETE,
            &format!("/v2/{repo}/manifests/{reference}"),
            HeaderMap::new(),
            None,
        )
        .await
        .status()
    }

    /// Sorted tags; empty for an unknown repository or `tags: null`.
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let resp = self
            .send(
                Method::GET,
                &format!("/v2/{repo}/tags/list"),
                HeaderMap::new(),
                None,
            )
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return Vec::new();
        }
        let resp = expect_status(resp, &[200], &format!("GET tags of {repo}")).await;
        let v: serde_json::Value = resp.json().await.expect("tags JSON");
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// Repositories from `/v2/_catalog` (needs `registry:catalog:*` with tokens).
    pub async fn catalog(&self) -> Vec<String> {
        let resp = self
            .send(Method::GET, "/v2/_catalog?n=1000", HeaderMap::new(), None)
            .await;
        let resp = expect_status(resp, &[200], "GET /v2/_catalog").await;
        let v: serde_json::Value = resp.json().await.expect("catalog JSON");
        let mut repos: Vec<String> = v["repositories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        repos.sort();
        repos
    }

    /// HEAD a blob.
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        let resp = self
            .send(
                Method::HEAD,
                &format!("/v2/{repo}/blobs/{digest}"),
                HeaderMap::new(),
                None,
            )
            .await;
        resp.status() == StatusCode::OK
    }

    /// GET a blob; None on 404.
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        let resp = self
            .send(
                Method::GET,
                &format!("/v2/{repo}/blobs/{digest}"),
                HeaderMap::new(),
                None,
            )
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let resp = expect_status(resp, &[200], &format!("GET blob {repo}@{digest}")).await;
        Some(resp.bytes().await.expect("blob body").to_vec())
    }

    /// Uploads `layers` and an OCI config (`created`, linux/amd64), then PUTs
    /// an OCI image manifest under `reference` (a tag, or its own digest).
    pub async fn push_image(
        &self,
        repo: &str,
        reference: &str,
        layers: &[Vec<u8>],
        created: &str,
    ) -> PushedImage {
        self.push_image_as(
            repo,
            Some(reference),
            layers,
            created,
            "linux",
            "amd64",
            false,
        )
        .await
    }

    /// The general form of [`push_image`](Self::push_image): any platform,
    /// Docker schema 2 media types when `docker` is true, and no tag when
    /// `reference` is None (pushed by digest).
    #[allow(clippy::too_many_arguments)]
    pub async fn push_image_as(
        &self,
        repo: &str,
        reference: Option<&str>,
        layers: &[Vec<u8>],
        created: &str,
        os: &str,
        arch: &str,
        docker: bool,
    ) -> PushedImage {
        let (manifest_type, config_type, layer_type) = if docker {
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        } else {
            (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
        };
        let mut layer_descs = Vec::new();
        let mut layer_digests = Vec::new();
        for layer in layers {
            let d = self.upload_blob(repo, layer).await;
            layer_descs.push(json!({"mediaType": layer_type, "digest": d, "size": layer.len()}));
            layer_digests.push(d);
        }
        let config = serde_json::to_vec(&json!({
            "created": created,
            "architecture": arch,
            "os": os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": layer_digests},
            "history": [{"created": created, "created_by": "dockhand test harness"}],
        }))
        .expect("config JSON");
        let config_digest = self.upload_blob(repo, &config).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
            "layers": layer_descs,
        }))
        .expect("manifest JSON");
        let own_digest = sha256_digest(&manifest);
        let digest = self
            .put_manifest(
                repo,
                reference.unwrap_or(&own_digest),
                manifest_type,
                &manifest,
            )
            .await;
        PushedImage {
            digest,
            manifest,
            media_type: manifest_type.into(),
            config_digest,
            layer_digests,
        }
    }

    /// Pushes two untagged platform images (linux/amd64 and linux/arm64, one
    /// small layer each derived from `repo`, `reference` and the platform) and
    /// an OCI index over them under `reference`.
    pub async fn push_index(&self, repo: &str, reference: &str, created: &str) -> PushedIndex {
        let mut children = Vec::new();
        let mut descs = Vec::new();
        for arch in ["amd64", "arm64"] {
            let layer = format!("layer of {repo}:{reference} for linux/{arch}").into_bytes();
            let child = self
                .push_image_as(repo, None, &[layer], created, "linux", arch, false)
                .await;
            descs.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": child.digest,
                "size": child.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            }));
            children.push(child);
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": descs,
        }))
        .expect("index JSON");
        let digest = self.put_manifest(repo, reference, OCI_INDEX, &index).await;
        PushedIndex {
            digest,
            index,
            children,
        }
    }
}

/// Seeds an OCI image (see [`RegistryClient::push_image`]) and returns
/// `(manifest digest, manifest bytes)`.
pub async fn push_image(
    url: &str,
    repo: &str,
    tag: &str,
    layers: &[Vec<u8>],
    created: &str,
    creds: &Creds,
) -> (String, Vec<u8>) {
    let img = RegistryClient::new(url, creds.clone())
        .push_image(repo, tag, layers, created)
        .await;
    (img.digest, img.manifest)
}

/// Seeds a two-platform OCI index (see [`RegistryClient::push_index`]) and
/// returns `(index digest, index bytes, child digests)`.
pub async fn push_index(
    url: &str,
    repo: &str,
    tag: &str,
    created: &str,
    creds: &Creds,
) -> (String, Vec<u8>, Vec<String>) {
    let idx = RegistryClient::new(url, creds.clone())
        .push_index(repo, tag, created)
        .await;
    let children = idx.children.iter().map(|c| c.digest.clone()).collect();
    (idx.digest, idx.index, children)
}

/// A reqwest client for loopback tests: no proxy, no redirects followed.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

fn accept_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static(MANIFEST_ACCEPT),
    );
    h
}

/// Panics with the status and body unless the status is one of `ok`.
pub async fn expect_status(resp: Response, ok: &[u16], what: &str) -> Response {
    if ok.contains(&resp.status().as_u16()) {
        return resp;
    }
    let status = resp.status();
    let headers = format!("{:?}", resp.headers());
    let body = resp.text().await.unwrap_or_default();
    panic!("{what}: expected {ok:?}, got {status}\nheaders: {headers}\nbody: {body}");
}

/// A [`RegistryClient`] for tests without a runtime of their own: every call blocks on the
/// client's runtime.
pub struct BlockingClient {
    rt: tokio::runtime::Runtime,
    client: RegistryClient,
}

impl BlockingClient {
    pub fn new(url: &str, creds: Creds) -> BlockingClient {
        BlockingClient {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            client: RegistryClient::new(url, creds),
        }
    }

    /// Every tag, sorted (attached `sha256-…` tags included).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.rt.block_on(self.client.tags(repo))
    }

    /// The image tags, sorted: without the `sha256-…` tags that origin records and cosign
    /// artifacts hang off.
    pub fn image_tags(&self, repo: &str) -> Vec<String> {
        self.tags(repo)
            .into_iter()
            .filter(|t| !t.starts_with("sha256-"))
            .collect()
    }

    /// tag → digest for every tag.
    pub fn resolve_all(&self, repo: &str) -> BTreeMap<String, String> {
        self.tags(repo)
            .into_iter()
            .map(|t| {
                let d = self.head(repo, &t).expect("listed tag resolves");
                (t, d)
            })
            .collect()
    }

    pub fn head(&self, repo: &str, reference: &str) -> Option<String> {
        self.rt.block_on(self.client.head_manifest(repo, reference))
    }

    pub fn get(&self, repo: &str, reference: &str) -> Option<Manifest> {
        self.rt.block_on(self.client.get_manifest(repo, reference))
    }

    /// Pushes a small distinct image (one layer holding `content`), created `days_ago`; returns
    /// its digest.
    pub fn push(&self, repo: &str, tag: &str, content: &str, days_ago: u64) -> String {
        let created = super::util::rfc3339(super::util::unix_now() - days_ago * 86_400);
        self.rt
            .block_on(
                self.client
                    .push_image(repo, tag, &[content.as_bytes().to_vec()], &created),
            )
            .digest
    }

    /// The digests an index lists (its platform manifests), in order.
    pub fn children(&self, repo: &str, index: &str) -> Vec<String> {
        self.get(repo, index).expect("index").json()["manifests"]
            .as_array()
            .expect("an index")
            .iter()
            .map(|c| c["digest"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        self.rt.block_on(self.client.blob_exists(repo, digest))
    }

    pub fn delete_manifest(&self, repo: &str, reference: &str) -> StatusCode {
        self.rt
            .block_on(self.client.delete_manifest(repo, reference))
    }

    /// Puts the manifest `digest` under another tag too.
    pub fn retag(&self, repo: &str, digest: &str, tag: &str) {
        let m = self.get(repo, digest).expect("manifest to retag");
        let d = self
            .rt
            .block_on(self.client.put_manifest(repo, tag, &m.media_type, &m.bytes));
        assert_eq!(d, digest);
    }
}
