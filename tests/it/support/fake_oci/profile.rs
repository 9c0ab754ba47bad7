//! [`Profile`]: plain data (plus optional hooks) that picks the behaviour of
//! the fake per vendor. Each switch is one behaviour of docs/registries.md#deleting-manifests,
//! #tag-listing or #test-fakes.

use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::Value;

use super::error::{OciError, Refusal};
use super::store::Store;

/// Credentials presented to the token endpoint (or directly, for Basic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` header.
    Anonymous,
    /// `Authorization: Basic`, or `username`/`password` of an OAuth2 POST.
    Basic { user: String, password: String },
}

/// Actions a caller may perform, per repository pattern. A pattern is `*`
/// (any repository), `prefix*` or an exact name; an action `*` grants every
/// action (docs/registries.md#authentication).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub rules: Vec<(String, Vec<String>)>,
    /// `registry:catalog:*`.
    pub catalog: bool,
}

impl Grants {
    pub fn none() -> Grants {
        Grants::default()
    }

    /// `pull`, `push`, `delete` on everything, plus the catalog.
    pub fn all() -> Grants {
        Grants::none()
            .allow("*", &["pull", "push", "delete"])
            .with_catalog()
    }

    /// Adds `actions` on repositories matching `pattern`.
    pub fn allow(mut self, pattern: &str, actions: &[&str]) -> Grants {
        self.rules.push((
            pattern.to_string(),
            actions.iter().map(|a| a.to_string()).collect(),
        ));
        self
    }

    pub fn with_catalog(mut self) -> Grants {
        self.catalog = true;
        self
    }

    /// Whether `action` is granted on `repo`.
    pub fn permits(&self, repo: &str, action: &str) -> bool {
        self.rules.iter().any(|(pattern, actions)| {
            let matches = match pattern.strip_suffix('*') {
                Some(prefix) => repo.starts_with(prefix),
                None => pattern == repo,
            };
            matches && actions.iter().any(|a| a == "*" || a == action)
        })
    }
}

/// Decides what a caller gets; None means the credentials are refused (401).
pub type CredentialCheck = Arc<dyn Fn(&Credentials) -> Option<Grants> + Send + Sync>;

/// How `/v2/` requests are authenticated (docs/registries.md#authentication).
#[derive(Clone)]
pub enum Auth {
    /// Everything allowed, no `Authorization` needed.
    None,
    /// `WWW-Authenticate: Basic realm="<realm>"`; `check` gets the Basic
    /// credentials (or Anonymous) and decides the grants. A valid user lacking
    /// an action gets 403 `DENIED`.
    Basic {
        realm: String,
        check: CredentialCheck,
    },
    /// Token auth with a token endpoint on the same server.
    Bearer(BearerAuth),
}

impl Auth {
    /// Basic with fixed users, each granted everything.
    pub fn basic_users(users: &[(&str, &str)]) -> Auth {
        Auth::Basic {
            realm: "fake-oci".into(),
            check: users_check(users, Grants::all(), None),
        }
    }

    /// Bearer at `realm_path` with `service` and a credential check.
    pub fn bearer(
        realm_path: &str,
        service: Option<&str>,
        check: impl Fn(&Credentials) -> Option<Grants> + Send + Sync + 'static,
    ) -> Auth {
        Auth::Bearer(BearerAuth {
            realm: realm_path.into(),
            service: service.map(String::from),
            check: Arc::new(check),
            ..BearerAuth::default()
        })
    }

    /// Bearer at `/token`, service `fake-oci`, with fixed users and what each
    /// gets, and the anonymous grants (None: anonymous token requests 401).
    pub fn bearer_users(users: &[(&str, &str, Grants)], anonymous: Option<Grants>) -> Auth {
        let users: Vec<(String, String, Grants)> = users
            .iter()
            .map(|(u, p, g)| (u.to_string(), p.to_string(), g.clone()))
            .collect();
        Auth::bearer("/token", Some("fake-oci"), move |c| match c {
            Credentials::Anonymous => anonymous.clone(),
            Credentials::Basic { user, password } => users
                .iter()
                .find(|(u, p, _)| u == user && p == password)
                .map(|(_, _, g)| g.clone()),
        })
    }
}

/// A check accepting `users` (each granted `grants`) and, when given,
/// anonymous callers with `anonymous`.
pub fn users_check(
    users: &[(&str, &str)],
    grants: Grants,
    anonymous: Option<Grants>,
) -> CredentialCheck {
    let users: Vec<(String, String)> = users
        .iter()
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect();
    Arc::new(move |c| match c {
        Credentials::Anonymous => anonymous.clone(),
        Credentials::Basic { user, password } => users
            .iter()
            .any(|(u, p)| u == user && p == password)
            .then(|| grants.clone()),
    })
}

/// Which fields the token reply carries (docs/registries.md#authentication step 4: clients
/// accept either).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFields {
    Both,
    TokenOnly,
    AccessTokenOnly,
}

/// Bearer token auth (docs/registries.md#authentication, #token-caching).
#[derive(Clone)]
pub struct BearerAuth {
    /// Where the token endpoint is served on this server (`/token`,
    /// `/jwt/auth`, `/service/token`, `/v2/auth`, `/v2/token`,
    /// `/oauth2/token`), or an absolute URL served elsewhere (then this
    /// server only validates tokens minted with [`super::FakeHandle::issue_token`]).
    pub realm: String,
    /// `service` in the challenge; None leaves it out (AR;
    /// docs/registries.md#authentication step 3). When Some, a token request naming another
    /// service is refused with 400.
    pub service: Option<String>,
    pub check: CredentialCheck,
    /// `expires_in` of issued tokens; None leaves the field out (clients
    /// must then assume 60 s).
    pub expires_in: Option<u64>,
    pub fields: TokenFields,
    /// Answer the OAuth2 `POST` variant (step 5); when false the POST gets
    /// 404, meaning "use GET".
    pub oauth2_post: bool,
    /// Also accept `Authorization: Basic` directly on `/v2/` requests
    /// (Harbor; docs/registries.md#authentication step 2).
    pub accept_basic: bool,
    /// Scheme word in the challenge (`Bearer`; Docker Hub's API also knows
    /// `JWT`, but the registry uses `Bearer`).
    pub scheme: String,
}

impl Default for BearerAuth {
    fn default() -> Self {
        BearerAuth {
            realm: "/token".into(),
            service: Some("fake-oci".into()),
            check: Arc::new(|_| Some(Grants::all())),
            expires_in: Some(300),
            fields: TokenFields::Both,
            oauth2_post: true,
            accept_basic: false,
            scheme: "Bearer".into(),
        }
    }
}

/// `DELETE /v2/<n>/manifests/<tag>` (docs/registries.md#deleting-manifests).
#[derive(Clone, Debug, PartialEq)]
pub enum TagDelete {
    /// 202; the tag goes, the manifest and other tags stay (spec v1.1,
    /// distribution 3.x, GCR, Quay, GitLab with `tag_delete`).
    Untag,
    /// 400 `DIGEST_INVALID` (distribution 2.8 with delete enabled).
    DigestInvalid,
    /// 405 `UNSUPPORTED` (Harbor, ghcr, delete disabled).
    Unsupported,
    /// A plain 404, as some products answer unsupported routes.
    NotFound,
}

/// `DELETE /v2/<n>/manifests/<digest>` (docs/registries.md#deleting-manifests).
#[derive(Clone, Debug, PartialEq)]
pub enum DigestDelete {
    /// 202; the manifest and every tag on it go.
    RemoveWithTags,
    /// Refused while a tag points at it (GCR: 400
    /// `GOOGLE_MANIFEST_DANGLING_TAG`; Docker Hub: 403); 202 once untagged.
    RefuseWhileTagged(Refusal),
    /// 405 `UNSUPPORTED`.
    Unsupported,
}

/// `GET /v2/<n>/tags/list` paging (docs/registries.md#tag-listing).
#[derive(Clone, Debug, PartialEq)]
pub enum TagPaging {
    /// Every tag in storage order (not sorted), `n`/`last` ignored, no
    /// `Link` (distribution 2.8 [V]).
    All,
    /// Sorted, `n` + `last` honoured, relative `Link` when more remain
    /// (distribution 3.x, ghcr, Hub). `default_n` applies when `n` is absent
    /// (None: everything).
    Sorted { default_n: Option<usize> },
    /// Pages of `size` sorted tags; `n` and `last` ignored; `Link` carries
    /// an opaque `next_page` token (Quay).
    FixedPage { size: usize },
    /// Like `Sorted` but in push order of the tagged manifests, oldest
    /// first (ties by name); `last` names the tag after which the page
    /// starts (ghcr: "oldest first", docs/registries.md#tag-listing [I]).
    PushOrder { default_n: Option<usize> },
}

/// A mount request without `from` (docs/registries.md#blobs-and-uploads).
#[derive(Clone, Debug, PartialEq)]
pub enum MountWithoutFrom {
    /// Ignored: a new upload session (202), as distribution 2.8 does.
    Session,
    /// Mount from any repository that holds the blob (201), else 202.
    Search,
    /// Refused (Quay).
    Refuse(Refusal),
}

/// Called with the store locked after a manifest PUT was stored:
/// (store, repo, digest, tag).
pub type ManifestPutHook = Arc<dyn Fn(&mut Store, &str, &str, Option<&str>) + Send + Sync>;
/// Called with the store locked after a manifest was deleted by digest:
/// (store, repo, digest, tags removed with it).
pub type ManifestDeleteHook = Arc<dyn Fn(&mut Store, &str, &str, &[String]) + Send + Sync>;
/// Called with the store locked after a tag was removed by tag DELETE:
/// (store, repo, tag, digest it pointed at).
pub type TagDeleteHook = Arc<dyn Fn(&mut Store, &str, &str, &str) + Send + Sync>;
/// A veto before a manifest PUT is stored (e.g. immutable tags):
/// (store, repo, digest, tag).
pub type ManifestPutCheck =
    Arc<dyn Fn(&Store, &str, &str, Option<&str>) -> Result<(), OciError> + Send + Sync>;
/// A veto before a manifest or tag DELETE: (store, repo, reference).
pub type DeleteCheck = Arc<dyn Fn(&Store, &str, &str) -> Result<(), OciError> + Send + Sync>;
/// Post-processes a tags/list body (e.g. GCR's `manifest` map):
/// (store, repo, body).
pub type TagsListHook = Arc<dyn Fn(&Store, &str, &mut Value) + Send + Sync>;
/// Adds headers to every response (e.g. rate-limit counters):
/// (request method, request path, response status, response headers).
pub type ResponseHook = Arc<dyn Fn(&Method, &str, u16, &mut HeaderMap) + Send + Sync>;
/// Answers a `/v2/…` request instead of the built-in handler when it
/// returns Some. For vendor routes that live under `/v2/` (GitLab's legacy
/// `tags/reference`, GCR's extended tag list, Docker Hub quirks). For a path
/// the OCI API knows, it runs after auth ([`V2Request::repo`] is Some); for
/// any other `/v2/` path it runs before auth (`repo` None) and must call
/// [`super::FakeHandle::authorize`] itself.
pub type V2Override = Arc<dyn Fn(&V2Request, &super::FakeHandle) -> Option<Response> + Send + Sync>;

/// A parsed `/v2/` request, as handed to [`V2Override`].
#[derive(Clone, Debug)]
pub struct V2Request {
    pub method: Method,
    /// Path after `/v2/` (no query).
    pub rest: String,
    /// The repository, when the path is an OCI endpoint (already
    /// authorized); None for paths the OCI API does not know.
    pub repo: Option<String>,
    pub headers: HeaderMap,
}

/// Optional behaviour a vendor fake plugs in.
#[derive(Clone, Default)]
pub struct Hooks {
    pub on_manifest_put: Option<ManifestPutHook>,
    pub on_manifest_delete: Option<ManifestDeleteHook>,
    pub on_tag_delete: Option<TagDeleteHook>,
    pub check_manifest_put: Option<ManifestPutCheck>,
    pub check_delete: Option<DeleteCheck>,
    pub tags_list: Option<TagsListHook>,
    pub on_response: Option<ResponseHook>,
    pub v2_override: Option<V2Override>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("on_manifest_put", &self.on_manifest_put.is_some())
            .field("on_manifest_delete", &self.on_manifest_delete.is_some())
            .field("on_tag_delete", &self.on_tag_delete.is_some())
            .field("check_manifest_put", &self.check_manifest_put.is_some())
            .field("check_delete", &self.check_delete.is_some())
            .field("tags_list", &self.tags_list.is_some())
            .field("on_response", &self.on_response.is_some())
            .field("v2_override", &self.v2_override.is_some())
            .finish()
    }
}

/// The behaviour of one fake registry. Start from a preset and change fields.
#[derive(Clone)]
pub struct Profile {
    /// Shown in panics and logs only.
    pub name: String,
    pub auth: Auth,
    pub tag_delete: TagDelete,
    pub digest_delete: DigestDelete,
    /// Refusal of a digest DELETE while an index in the repository lists the
    /// manifest (GCR: `GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE`); None allows it.
    pub refuse_delete_of_child: Option<Refusal>,
    pub tag_paging: TagPaging,
    /// `n` above this → 400 `PAGINATION_NUMBER_INVALID` (ECR: 1000).
    pub max_n: Option<usize>,
    /// The referrers API and `OCI-Subject` on PUT; when false, referrers is
    /// a plain-text 404 (docs/registries.md#referrers).
    pub referrers: bool,
    /// Cross-repository mount with `from` (false: always a 202 session, as
    /// ECR without BLOB_MOUNTING).
    pub mount: bool,
    pub mount_without_from: MountWithoutFrom,
    /// Every mount request (with or without `from`) refused with this
    /// error; clients must retry without `mount` (docs/registries.md#blobs-and-uploads, ggcr#1404).
    pub mount_refusal: Option<Refusal>,
    /// `POST …/uploads/?digest=` with a body finishes in one request (201);
    /// when false it is answered 202 with a session, body ignored
    /// (distribution 2.8 [V]).
    pub single_post_upload: bool,
    /// A minimum PATCH chunk size announced in `OCI-Chunk-Min-Length` on
    /// the POST (announced only: the server cannot tell the last chunk).
    pub chunk_min_length: Option<usize>,
    /// Accept negotiation as distribution 2.8 does it (docs/registries.md#manifests-and-accept
    /// [V]): an OCI
    /// manifest or index requested without its type in `Accept` → 404, a
    /// schema 2 manifest by tag without schema 2 → 400. When false, the
    /// stored manifest is served whatever the `Accept`.
    pub strict_accept: bool,
    /// `Location` headers as absolute URLs (`http://127.0.0.1:PORT/v2/…`)
    /// instead of relative paths; clients must handle both (docs/registries.md#blobs-and-uploads).
    pub absolute_locations: bool,
    /// Blob GETs answer 307 to a second server on `localhost:<other port>`
    /// with a presigned query (docs/registries.md#rate-limits-and-redirects). That server refuses a
    /// request that also carries `Authorization` with 400, as S3 does
    /// ("Only one auth mechanism allowed"), and logs every request (see
    /// [`super::FakeHandle::storage_requests`]). Fixed at start: the second
    /// server only runs when this is true when the fake starts.
    pub redirect_blobs: bool,
    /// Refuse manifests larger than this with 413 (distribution: 4 MiB).
    pub max_manifest_bytes: usize,
    /// `GET /v2/_catalog` served (needs `registry:catalog:*` with Bearer).
    pub catalog: bool,
    /// Headers added to every response (e.g. GitLab's
    /// `Gitlab-Container-Registry-Features`).
    pub extra_headers: Vec<(String, String)>,
    /// The actions a `DELETE` on `/v2/` needs; None: `delete` (docs/registries.md#authentication).
    /// Quay checks `pull,push` (its token endpoint knows no `delete`).
    pub delete_needs: Option<Vec<&'static str>>,
    pub hooks: Hooks,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("tag_delete", &self.tag_delete)
            .field("digest_delete", &self.digest_delete)
            .field("tag_paging", &self.tag_paging)
            .field("referrers", &self.referrers)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::distribution()
    }
}

impl Profile {
    /// OCI Distribution as spec v1.1 / distribution 3.x: anonymous, tag
    /// DELETE untags, digest DELETE removes the tags too, sorted paging with
    /// `Link`, single-POST uploads, mount with `from`, no referrers.
    pub fn distribution() -> Profile {
        Profile {
            name: "distribution".into(),
            auth: Auth::None,
            tag_delete: TagDelete::Untag,
            digest_delete: DigestDelete::RemoveWithTags,
            refuse_delete_of_child: None,
            tag_paging: TagPaging::Sorted { default_n: None },
            max_n: None,
            referrers: false,
            mount: true,
            mount_without_from: MountWithoutFrom::Session,
            mount_refusal: None,
            single_post_upload: true,
            chunk_min_length: None,
            strict_accept: true,
            absolute_locations: false,
            redirect_blobs: false,
            max_manifest_bytes: 4 << 20,
            catalog: true,
            extra_headers: Vec::new(),
            delete_needs: None,
            hooks: Hooks::default(),
        }
    }

    /// distribution 2.8 with delete enabled, as observed
    /// (docs/registries.md#real-servers-in-the-tests): tag DELETE 400 `DIGEST_INVALID`, paging
    /// ignored, single POST answered 202, no referrers.
    pub fn distribution_2_8() -> Profile {
        Profile {
            name: "distribution-2.8".into(),
            tag_delete: TagDelete::DigestInvalid,
            tag_paging: TagPaging::All,
            single_post_upload: false,
            ..Profile::distribution()
        }
    }

    /// A full OCI 1.1 registry: [`Profile::distribution`] plus referrers.
    pub fn oci_1_1() -> Profile {
        Profile {
            name: "oci-1.1".into(),
            referrers: true,
            ..Profile::distribution()
        }
    }

    pub fn with_auth(mut self, auth: Auth) -> Profile {
        self.auth = auth;
        self
    }
}
