//! OCI Distribution operations (the data plane every registry shares), on top of the transport.
//!
//! Each function is one protocol step of the OCI Distribution spec; outcomes that callers must tell
//! apart (absent, unsupported, mounted or not) are values, and everything else is an [`Error`]
//! whose kind follows the HTTP status and the registry's error code, never the message text.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LINK};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::auth::Scope;
use super::media::{ACCEPT_MANIFESTS, Descriptor, Manifest, OCI_INDEX};
use super::paging::Pages;
use super::transport::{Body, Request, Transport};
use crate::error::{Error, Kind, Result};
use crate::secret::redact_url;

/// A repository on a registry host: `host[:port]` and the name after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repo {
    pub host: String,
    pub name: String,
}

impl Repo {
    pub fn new(host: impl Into<String>, name: impl Into<String>) -> Repo {
        Repo {
            host: host.into(),
            name: name.into(),
        }
    }
    /// Splits `host/name` (the form layouts produce).
    pub fn parse(repository: &str) -> Option<Repo> {
        let (host, name) = repository.split_once('/')?;
        Some(Repo::new(host, name))
    }
    fn pull(&self) -> Scope {
        Scope::repository(&self.name, &["pull"])
    }
    fn push(&self) -> Scope {
        Scope::repository(&self.name, &["pull", "push"])
    }
    fn delete(&self) -> Scope {
        Scope::repository(&self.name, &["delete"])
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.name)
    }
}

/// What deleting something did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    Done,
    /// It was not there (counts as done: re-runs converge).
    NotFound,
    /// The registry does not support this deletion (status and error code as given).
    Unsupported {
        status: u16,
        code: Option<String>,
    },
    /// The registry keeps it on purpose, for a documented reason (the last tagged version on
    /// GitHub, an immutable or locked tag): reported as kept with that reason, not as a failure.
    Kept {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mounted {
    Yes,
    /// The registry opened an upload session instead; upload into it.
    Session(Url),
}

/// The referrers of a manifest, from the API or from the fallback tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrers {
    pub descriptors: Vec<Descriptor>,
    /// Whether the registry has the referrers API (else the fallback tag was read).
    pub api: bool,
}

/// The reply to an unauthenticated `GET /v2/`.
#[derive(Debug, Clone)]
pub struct Ping {
    pub status: u16,
    pub headers: HeaderMap,
}

#[derive(Debug, Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The OCI client; cheap to clone.
#[derive(Clone)]
pub struct Distribution {
    transport: Transport,
    /// Per host: whether the referrers API exists (learned from the first answer).
    referrers_api: Arc<std::sync::Mutex<std::collections::HashMap<String, bool>>>,
}

impl Distribution {
    pub fn new(transport: Transport) -> Distribution {
        Distribution {
            transport,
            referrers_api: Default::default(),
        }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    async fn url(&self, repo: &Repo, tail: &str) -> Result<Url> {
        let base = self.transport.base_url(&repo.host).await?;
        let s = format!("{}v2/{}/{}", base, repo.name, tail);
        Url::parse(&s).map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))
    }

    /// `GET /v2/` without credentials, to see the challenge (detection, `dockhand detect`).
    pub async fn ping(&self, host: &str) -> Result<Ping> {
        let base = self.transport.base_url(host).await?;
        if let Some((status, headers)) = self.transport.cached_ping(host) {
            return Ok(Ping { status, headers });
        }
        let url = base.join("v2/").map_err(|e| Error::input(e.to_string()))?;
        let mut req = Request::new(Method::GET, url);
        req.registry_auth = false;
        let resp = self.transport.send(req).await?;
        Ok(Ping {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
        })
    }

    /// All tags of a repository, following `Link` pages. `None` if the repository does not exist.
    pub async fn tags(&self, repo: &Repo, page_size: Option<usize>) -> Result<Option<Vec<String>>> {
        let mut url = self.url(repo, "tags/list").await?;
        if let Some(n) = page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let mut all = Vec::new();
        let mut pages = Pages::new(format!("the tag list of {repo}"));
        loop {
            pages.visit_url(&url)?;
            let resp = self
                .transport
                .send(Request::new(Method::GET, url.clone()).scope(repo.pull()))
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                let (_, code) = error_parts(resp).await;
                return if code.as_deref() == Some("NAME_UNKNOWN") || all.is_empty() {
                    Ok(None)
                } else {
                    Ok(Some(all))
                };
            }
            let resp = check(resp, "list tags of", &url).await?;
            let next = next_link(resp.headers(), &url);
            // The page body is dropped once parsed: memory holds the tags, not the pages.
            let page: TagList = resp.json().await.map_err(|e| {
                Error::operation(format!("tag list of {repo} is not valid JSON: {e}"))
            })?;
            all.extend(page.tags.unwrap_or_default());
            match next {
                // A page seen before (this one included) is refused by `pages.visit`.
                Some(n) => url = n,
                None => return Ok(Some(all)),
            }
        }
    }

    /// `HEAD` a manifest: its descriptor, or `None` if absent. Never counts as a pull.
    pub async fn head_manifest(&self, repo: &Repo, reference: &str) -> Result<Option<Descriptor>> {
        let url = self.url(repo, &format!("manifests/{reference}")).await?;
        let req = Request::new(Method::HEAD, url.clone())
            .header(ACCEPT, ACCEPT_MANIFESTS)
            .scope(repo.pull());
        let resp = self.transport.send(req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(resp, "check manifest", &url).await?;
        let h = resp.headers();
        let digest = header(h, "docker-content-digest");
        let media_type = header(h, "content-type")
            .map(|m| m.split(';').next().unwrap_or_default().trim().to_string());
        let size = header(h, "content-length").and_then(|s| s.parse().ok());
        match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size)) => Ok(Some(Descriptor {
                media_type,
                digest,
                size,
                artifact_type: None,
                platform: None,
                annotations: None,
            })),
            // No digest header: only a GET can tell (hash the body).
            _ => Ok(self
                .get_manifest(repo, reference)
                .await?
                .map(|m| m.descriptor())),
        }
    }

    /// `GET` a manifest with its exact bytes, or `None` if absent.
    pub async fn get_manifest(&self, repo: &Repo, reference: &str) -> Result<Option<Manifest>> {
        let url = self.url(repo, &format!("manifests/{reference}")).await?;
        let req = Request::new(Method::GET, url.clone())
            .header(ACCEPT, ACCEPT_MANIFESTS)
            .scope(repo.pull());
        let resp = self.transport.send(req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(resp, "get manifest", &url).await?;
        let content_type = header(resp.headers(), "content-type");
        let claimed = header(resp.headers(), "docker-content-digest");
        let limit = self.transport.max_manifest_size();
        let bytes = read_limited(resp, limit, &url)
            .await?
            .map_err(|size| manifest_too_large(&format!("{repo}:{reference}"), size, limit))?;
        let manifest = Manifest::new(bytes, content_type.as_deref());
        if reference.contains(':') && reference != manifest.digest {
            return Err(Error::operation(format!(
                "{repo}@{reference}: the registry served bytes whose digest is {}",
                manifest.digest
            )));
        }
        // By tag, the bytes are all there is to go on: a body that does not hash to the digest
        // the registry names (a proxy or cache serving other content) would make cleanup
        // delete, or report as deleted, a digest the tag never had.
        if let Some(claimed) = claimed.filter(|c| c.starts_with("sha256:"))
            && claimed != manifest.digest
        {
            return Err(Error::operation(format!(
                "{repo}:{reference}: the registry names digest {claimed} but served bytes whose digest is {}",
                manifest.digest
            ))
            .with_hint("a proxy or cache between dockhand and the registry changes manifests; bypass it (NO_PROXY) or fix it"));
        }
        Ok(Some(manifest))
    }

    /// `PUT` a manifest under a tag or its digest; returns the digest, checked against our own.
    pub async fn put_manifest(
        &self,
        repo: &Repo,
        reference: &str,
        manifest: &Manifest,
    ) -> Result<String> {
        let url = self.url(repo, &format!("manifests/{reference}")).await?;
        let req = Request::new(Method::PUT, url.clone())
            .header(CONTENT_TYPE, &manifest.media_type)
            .scope(repo.push())
            .body(Body::Bytes(manifest.bytes.clone()));
        let resp = check(self.transport.send(req).await?, "put manifest", &url).await?;
        if let Some(d) = header(resp.headers(), "docker-content-digest")
            && d != manifest.digest
        {
            return Err(Error::operation(format!(
                "{repo}:{reference}: the registry stored digest {d}, expected {}",
                manifest.digest
            )));
        }
        Ok(manifest.digest.clone())
    }

    /// `DELETE` a manifest by digest or by tag (OCI 1.1 tag delete).
    pub async fn delete_manifest(&self, repo: &Repo, reference: &str) -> Result<Deleted> {
        let url = self.url(repo, &format!("manifests/{reference}")).await?;
        self.delete(repo, url, "delete manifest").await
    }

    pub async fn delete_blob(&self, repo: &Repo, digest: &str) -> Result<Deleted> {
        let url = self.url(repo, &format!("blobs/{digest}")).await?;
        self.delete(repo, url, "delete blob").await
    }

    async fn delete(&self, repo: &Repo, url: Url, what: &str) -> Result<Deleted> {
        let resp = self
            .transport
            .send(Request::new(Method::DELETE, url.clone()).scope(repo.delete()))
            .await?;
        let status = resp.status().as_u16();
        match status {
            // A login page or a proxy's error page with status 200 is no deletion.
            200..=299 if is_html(resp.headers()) => Err(Error::operation(format!(
                "{what} {}: HTTP {status} with an HTML page instead of a registry answer",
                redact_url(&url)
            ))
            .with_hint("something between dockhand and the registry answers for it (a login page or proxy); check the images repo address and proxies")),
            200..=299 => Ok(Deleted::Done),
            404 => {
                let (_, code) = error_parts(resp).await;
                // A router 404 without a registry error code means "no such endpoint".
                match code.as_deref() {
                    Some("MANIFEST_UNKNOWN" | "BLOB_UNKNOWN" | "NAME_UNKNOWN" | "NOT_FOUND") => {
                        Ok(Deleted::NotFound)
                    }
                    None => Ok(Deleted::NotFound),
                    Some(other) => Ok(Deleted::Unsupported {
                        status,
                        code: Some(other.to_string()),
                    }),
                }
            }
            400 | 405 => {
                let (_, code) = error_parts(resp).await;
                Ok(Deleted::Unsupported { status, code })
            }
            _ => Err(check(resp, what, &url)
                .await
                .err()
                .unwrap_or_else(|| Error::operation("unexpected status"))),
        }
    }

    /// `HEAD` a blob: its size, or `None` if absent.
    pub async fn head_blob(&self, repo: &Repo, digest: &str) -> Result<Option<u64>> {
        let url = self.url(repo, &format!("blobs/{digest}")).await?;
        let resp = self
            .transport
            .send(Request::new(Method::HEAD, url.clone()).scope(repo.pull()))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(resp, "check blob", &url).await?;
        Ok(Some(
            header(resp.headers(), "content-length")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        ))
    }

    /// `GET` a blob as a stream (redirects to storage followed without credentials).
    pub async fn get_blob(&self, repo: &Repo, digest: &str) -> Result<reqwest::Response> {
        let url = self.url(repo, &format!("blobs/{digest}")).await?;
        let resp = self
            .transport
            .send(Request::new(Method::GET, url.clone()).scope(repo.pull()))
            .await?;
        check(resp, "get blob", &url).await
    }

    /// Cross-repository mount: `POST …/blobs/uploads/?mount=<digest>&from=<source>`.
    pub async fn mount_blob(&self, repo: &Repo, digest: &str, from: &str) -> Result<Mounted> {
        let mut url = self.url(repo, "blobs/uploads/").await?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let req = Request::new(Method::POST, url.clone())
            .scope(repo.push())
            .scope(Scope::repository(from, &["pull"]));
        let resp = self.transport.send(req).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mounted::Yes),
            StatusCode::ACCEPTED => Ok(Mounted::Session(location(&resp, &url)?)),
            _ => Err(check(resp, "mount blob", &url)
                .await
                .err()
                .unwrap_or_else(|| Error::operation("mount failed"))),
        }
    }

    /// Opens an upload session: `POST …/blobs/uploads/` → its `Location`.
    pub async fn start_upload(&self, repo: &Repo) -> Result<Url> {
        let url = self.url(repo, "blobs/uploads/").await?;
        let mut req = Request::new(Method::POST, url.clone()).scope(repo.push());
        req.replay_on_connection_error = true;
        let resp = check(self.transport.send(req).await?, "start upload", &url).await?;
        location(&resp, &url)
    }

    /// Monolithic upload of a blob into a session: one `PUT <Location>&digest=` with the body.
    pub async fn finish_upload(
        &self,
        repo: &Repo,
        session: Url,
        digest: &str,
        body: Body,
    ) -> Result<()> {
        let mut url = session;
        url.query_pairs_mut().append_pair("digest", digest);
        let mut req = Request::new(Method::PUT, url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .scope(repo.push())
            .body(body);
        req.replay_on_connection_error = false;
        let resp = self.transport.send(req).await?;
        check(resp, "upload blob", &url).await.map(drop)
    }

    /// Uploads a blob in one request after opening a session.
    pub async fn upload_blob(&self, repo: &Repo, digest: &str, body: Body) -> Result<()> {
        let session = self.start_upload(repo).await?;
        self.finish_upload(repo, session, digest, body).await
    }

    /// Uploads a file in chunks of `chunk` bytes: `PATCH` with `Content-Range` per chunk (each
    /// answer names the next `Location`), then a zero-length `PUT ?digest=`.
    pub async fn upload_file_chunked(
        &self,
        repo: &Repo,
        digest: &str,
        path: &Path,
        chunk: u64,
    ) -> Result<()> {
        let len = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::input(format!("{}: {e}", path.display())))?
            .len();
        let mut session = self.start_upload(repo).await?;
        let mut offset = 0u64;
        while offset < len {
            let n = chunk.min(len - offset);
            let body = file_range_body(path.to_path_buf(), offset, n);
            let mut req = Request::new(Method::PATCH, session.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(
                    reqwest::header::CONTENT_RANGE,
                    &format!("{}-{}", offset, offset + n - 1),
                )
                .scope(repo.push())
                .body(body);
            req.replay_on_connection_error = false;
            let resp = check(self.transport.send(req).await?, "upload chunk", &session).await?;
            session = location(&resp, &session)?;
            offset += n;
        }
        self.finish_upload(repo, session, digest, Body::Empty).await
    }

    /// Referrers of `digest`: the API where the registry has it, else the `sha256-<hex>` tag.
    pub async fn referrers(&self, repo: &Repo, digest: &str) -> Result<Referrers> {
        self.referrers_or_fallback(repo, digest, true).await
    }

    /// [`Distribution::referrers`]; without the API the fallback tag is read only when
    /// `read_fallback` (a caller that knows the tags knows whether it exists: a GET of an absent
    /// tag is a request spent, and on Docker Hub a manifest GET counts against the pull quota).
    async fn referrers_or_fallback(
        &self,
        repo: &Repo,
        digest: &str,
        read_fallback: bool,
    ) -> Result<Referrers> {
        let url = self.url(repo, &format!("referrers/{digest}")).await?;
        let req = Request::new(Method::GET, url.clone())
            .header(ACCEPT, OCI_INDEX)
            .scope(repo.pull());
        let resp = self.transport.send(req).await?;
        let is_index =
            header(resp.headers(), "content-type").is_some_and(|c| c.starts_with(OCI_INDEX));
        if resp.status().is_success() && is_index {
            let limit = self.transport.max_manifest_size();
            let body = read_limited(resp, limit, &url).await?.map_err(|size| {
                manifest_too_large(
                    &format!("the referrers index of {repo}@{digest}"),
                    size,
                    limit,
                )
            })?;
            let index: super::media::ManifestFields = serde_json::from_slice(&body)
                .map_err(|e| Error::operation(format!("referrers of {repo}@{digest}: {e}")))?;
            return Ok(Referrers {
                descriptors: index.manifests,
                api: true,
            });
        }
        if resp.status() != StatusCode::NOT_FOUND && !resp.status().is_success() {
            check(resp, "list referrers", &url).await?;
        }
        if !read_fallback {
            return Ok(Referrers {
                descriptors: Vec::new(),
                api: false,
            });
        }
        let tag = fallback_tag(digest);
        let descriptors = match self.get_manifest(repo, &tag).await? {
            Some(m) => m.fields().map(|f| f.manifests).unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Referrers {
            descriptors,
            api: false,
        })
    }
}

impl Distribution {
    /// Referrers when the caller knows the repository's tags: the API is asked once per host,
    /// and where it is missing the fallback tag is read only if it exists.
    pub async fn referrers_known(
        &self,
        repo: &Repo,
        digest: &str,
        fallback_tag_exists: bool,
    ) -> Result<Vec<Descriptor>> {
        let api = self
            .referrers_api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&repo.host)
            .copied();
        if api == Some(false) {
            if !fallback_tag_exists {
                return Ok(Vec::new());
            }
            let m = self.get_manifest(repo, &fallback_tag(digest)).await?;
            return Ok(m
                .and_then(|m| m.fields().ok())
                .map(|f| f.manifests)
                .unwrap_or_default());
        }
        let r = self
            .referrers_or_fallback(repo, digest, fallback_tag_exists)
            .await?;
        self.referrers_api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.host.clone(), r.api);
        Ok(r.descriptors)
    }

    /// Pushes a manifest that has a `subject` and keeps the referrers list right: where the
    /// registry does not index it (no `OCI-Subject` in the answer), the descriptor is added to the
    /// fallback index tagged `sha256-<hex>` of the subject.
    pub async fn push_referrer(
        &self,
        repo: &Repo,
        manifest: &Manifest,
        descriptor: Descriptor,
        subject: &str,
    ) -> Result<()> {
        let url = self
            .url(repo, &format!("manifests/{}", manifest.digest))
            .await?;
        let req = Request::new(Method::PUT, url.clone())
            .header(CONTENT_TYPE, &manifest.media_type)
            .scope(repo.push())
            .body(Body::Bytes(manifest.bytes.clone()));
        let resp = check(self.transport.send(req).await?, "put referrer", &url).await?;
        if resp.headers().contains_key("oci-subject") {
            return Ok(());
        }
        let tag = fallback_tag(subject);
        let mut manifests = match self.get_manifest(repo, &tag).await? {
            Some(m) => m.fields().map(|f| f.manifests).unwrap_or_default(),
            None => Vec::new(),
        };
        if manifests.iter().any(|d| d.digest == descriptor.digest) {
            return Ok(());
        }
        manifests.push(descriptor);
        let index =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let index = Manifest::new(
            Bytes::from(serde_json::to_vec(&index).unwrap_or_default()),
            Some(OCI_INDEX),
        );
        self.put_manifest(repo, &tag, &index).await.map(drop)
    }

    /// Makes sure the 2-byte empty JSON blob is in the repository (configs and layers of artifacts).
    pub async fn ensure_empty_blob(&self, repo: &Repo) -> Result<()> {
        use super::media::{EMPTY_BLOB, EMPTY_DIGEST};
        if self.head_blob(repo, EMPTY_DIGEST).await?.is_none() {
            self.upload_blob(
                repo,
                EMPTY_DIGEST,
                Body::Bytes(Bytes::from_static(EMPTY_BLOB)),
            )
            .await?;
        }
        Ok(())
    }
}

/// Whether an answer is an HTML page (a login page or a proxy's error page, not a registry).
fn is_html(h: &HeaderMap) -> bool {
    header(h, "content-type")
        .is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// The referrers tag schema: `sha256:<hex>` → `sha256-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(max)
            .collect()
    };
    format!("{}-{}", clean(alg, 32), clean(hex, 64))
}

/// A body that streams `len` bytes of a file from `offset`, re-opened for each attempt.
pub fn file_range_body(path: std::path::PathBuf, offset: u64, len: u64) -> Body {
    let path = Arc::new(path);
    Body::Stream {
        len,
        make: Arc::new(move || {
            let path = path.clone();
            let stream = futures_util::stream::once(async move {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut f = tokio::fs::File::open(path.as_ref()).await?;
                f.seek(std::io::SeekFrom::Start(offset)).await?;
                Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
                    f.take(len),
                    256 * 1024,
                ))
            });
            use futures_util::StreamExt;
            reqwest::Body::wrap_stream(
                stream
                    .map(|r| match r {
                        Ok(s) => s.left_stream(),
                        Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
                    })
                    .flatten(),
            )
        }),
    }
}

/// The whole body of `resp` if it is at most `limit` bytes, else `Err` with the size the server
/// declared (if it did): a `Content-Length` over the limit is refused before reading, and a body
/// without one (chunked, or a lying length) is read only up to the limit, so a huge or endless
/// answer never sits in memory.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: u64,
    url: &Url,
) -> Result<std::result::Result<Bytes, Option<u64>>> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > limit) {
        return Ok(Err(declared));
    }
    let mut out = bytes::BytesMut::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| Error::operation(format!("reading {}: {e}", redact_url(url))))?;
        let Some(chunk) = chunk else {
            return Ok(Ok(out.freeze()));
        };
        if (out.len() + chunk.len()) as u64 > limit {
            return Ok(Err(None));
        }
        out.extend_from_slice(&chunk);
    }
}

/// The error for a manifest over `--max-manifest-size`.
fn manifest_too_large(what: &str, size: Option<u64>, limit: u64) -> Error {
    let size = match size {
        Some(n) => format!(" of {n} bytes ({})", human_size(n)),
        None => String::new(),
    };
    Error::operation(format!(
        "{what}: the manifest{size} is over the --max-manifest-size limit of {limit} bytes ({}); \
         refused without reading it",
        human_size(limit)
    ))
    .with_hint(
        "a genuine manifest this large needs --max-manifest-size (DOCKHAND_MAX_MANIFEST_SIZE) raised",
    )
}

/// `4 MiB`, `1.5 KiB`, `12 B`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let text = format!("{v:.1}");
    format!("{} {}", text.trim_end_matches(".0"), UNITS[unit])
}

/// A body of bytes in memory.
pub fn bytes_body(b: impl Into<Bytes>) -> Body {
    Body::Bytes(b.into())
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn location(resp: &reqwest::Response, base: &Url) -> Result<Url> {
    let loc = header(resp.headers(), "location").ok_or_else(|| {
        Error::operation(format!("{} answered without a Location", redact_url(base)))
    })?;
    // Relative locations keep their query (distribution's `_state`).
    base.join(&loc)
        .map_err(|e| Error::operation(format!("bad upload Location {loc:?}: {e}")))
}

/// The `rel="next"` target of a `Link` header, resolved against the request URL.
pub fn next_link(h: &HeaderMap, base: &Url) -> Option<Url> {
    h.get_all(LINK).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim().split_once('='), Some((k, v)) if k.trim() == "rel" && v.trim().trim_matches('"') == "next"));
        if is_next { base.join(target).ok() } else { None }
    })
}

/// An error body is read up to this much: enough for any registry's JSON error, and a huge or
/// endless one is not held.
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// The first `limit` bytes of a body (all of it when shorter); read errors end it early.
async fn read_prefix(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - out.len();
                out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    out
}

async fn error_parts(resp: reqwest::Response) -> (String, Option<String>) {
    let text = String::from_utf8_lossy(&read_prefix(resp, ERROR_BODY_LIMIT).await).into_owned();
    match crate::registry::rest::OciError::first(&text) {
        Some(item) => (
            format!(
                "{} {}",
                item.code.as_deref().unwrap_or_default(),
                item.message.as_deref().unwrap_or_default()
            )
            .trim()
            .to_string(),
            item.code.filter(|c| !c.is_empty()),
        ),
        None => (crate::registry::rest::excerpt(&text), None),
    }
}

/// Passes a success through; turns anything else into an error of the right kind.
pub async fn check(resp: reqwest::Response, what: &str, url: &Url) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let (detail, _) = error_parts(resp).await;
    let kind = match status.as_u16() {
        401 | 403 => Kind::Auth,
        405 => Kind::Unsupported,
        _ => Kind::Operation,
    };
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    };
    let mut e = Error::new(
        kind,
        format!(
            "{what} {}: HTTP {}{detail}",
            redact_url(url),
            status.as_u16()
        ),
    );
    if kind == Kind::Auth {
        e = e.with_hint("check the credentials and that they may do this (push needs pull,push; cleanup needs delete)");
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let base = Url::parse("http://r.example/v2/a/tags/list?n=2").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            "</v2/a/tags/list?last=b&n=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "http://r.example/v2/a/tags/list?last=b&n=2"
        );
        h.insert(
            LINK,
            "<https://other/x>; rel=\"prev\", <https://api.example/p2>; rel=next"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "https://api.example/p2"
        );
        assert_eq!(next_link(&HeaderMap::new(), &base), None);
    }

    #[test]
    fn fallback_tags() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(fallback_tag(&d), format!("sha256-{}", "a".repeat(64)));
    }
}
