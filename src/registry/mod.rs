//! Talking to registries: one transport, the OCI data plane on it, and one [`Registry`] per
//! implementation that overrides only what its vendor does differently.

pub mod auth;
pub mod credentials;
pub mod distribution;
pub mod host;
pub mod implementations;
pub mod media;
pub mod paging;
pub mod probe;
pub mod rest;
pub mod retry;
pub mod transport;
pub mod transport_error;
pub mod untag;

use std::collections::BTreeMap;
use std::time::SystemTime;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use crate::error::Result;
use crate::implementation::Capabilities;
use distribution::{Deleted, Distribution, Repo};

/// One repository as a vendor listing API gives it: every tag with its digest, and what the API
/// says about each manifest. Cleanup then skips the per-tag manifest reads and config times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// tag → digest.
    pub tags: BTreeMap<String, String>,
    /// digest → what the listing says about it (tagged manifests at least). Where the
    /// capabilities say `lists_untagged`, every manifest of the repository: a digest no tag
    /// names is an untagged manifest.
    pub manifests: BTreeMap<String, Listed>,
}

impl Listing {
    /// The listed digests no tag points at.
    pub fn untagged(&self) -> impl Iterator<Item = (&String, &Listed)> {
        let tagged: std::collections::BTreeSet<&String> = self.tags.values().collect();
        self.manifests
            .iter()
            .filter(move |(d, _)| !tagged.contains(d))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// The manifest's media type, when the listing gives it (else a HEAD asks).
    pub media_type: Option<String>,
    /// When it was pushed, when the listing gives it.
    pub pushed: Option<SystemTime>,
    /// When it was last pulled, as far as the registry records it.
    pub pulled: Pulled,
}

/// The registry's record of the last pull of a manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pulled {
    /// The registry keeps no such record (or this listing does not give it).
    #[default]
    Unrecorded,
    /// The registry records pulls and has none for it (Harbor's zero time; ECR without
    /// `lastRecordedPullTime`).
    Never,
    At(SystemTime),
}

impl Pulled {
    /// The later of two records of one image (an index and its children, a digest's tags).
    pub fn latest(self, other: Pulled) -> Pulled {
        match (self, other) {
            (Pulled::At(a), Pulled::At(b)) => Pulled::At(a.max(b)),
            (Pulled::At(a), _) | (_, Pulled::At(a)) => Pulled::At(a),
            (Pulled::Never, _) | (_, Pulled::Never) => Pulled::Never,
            _ => Pulled::Unrecorded,
        }
    }
}

/// One step of a cleanup's execution, as a vendor API's pace sees it (for the plan's estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The repository listed again (a look before a chunk of deletions, the final check), with
    /// about this many manifests in it.
    List { manifests: usize },
    /// This many digests deleted.
    Delete { count: usize },
    /// This many single tags removed.
    Untag { count: usize },
}

/// How long the deletions take at a vendor API's pace (`Registry::paced`).
#[derive(Debug, Clone, PartialEq)]
pub struct Paced {
    pub duration: std::time::Duration,
    /// API requests the steps make.
    pub requests: usize,
    /// The limits paced to, as the user would write them.
    pub limits: String,
}

/// Which tags the policy may judge by age (only those need push times).
pub type Timed<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// What publish and cleanup need from a registry. The provided methods are the OCI way; an
/// implementation module overrides those its vendor does differently (listing with times, untag,
/// repository creation), and its [`Capabilities`] say which paths the planner may take.
pub trait Registry: Send + Sync {
    fn capabilities(&self) -> Capabilities;

    /// `self` as a trait object (so provided methods can hand it on).
    fn as_dyn(&self) -> &dyn Registry;

    /// The OCI Distribution client for this registry's host.
    fn oci(&self) -> &Distribution;

    /// All tags of a repository, or `None` when the repository does not exist.
    fn list_tags<'a>(&'a self, repo: &'a Repo) -> BoxFuture<'a, Result<Option<Vec<String>>>> {
        Box::pin(self.oci().tags(repo, None))
    }

    /// Tags, digests and push times from a vendor listing API, or `None` where the registry has
    /// none (then the OCI way is used). A missing repository is an empty listing.
    fn listing<'a>(
        &'a self,
        _repo: &'a Repo,
        _timed: Timed<'a>,
    ) -> BoxFuture<'a, Result<Option<Listing>>> {
        Box::pin(async { Ok(None) })
    }

    /// `--delete-untagged` only: manifests no tag names, from a second vendor listing where the
    /// tag listing leaves them out (ACR's `_manifests`), so that runs without the flag skip its
    /// requests. Merged into [`Listing::manifests`] by cleanup's inventory; none by default.
    fn untagged_listing<'a>(
        &'a self,
        _repo: &'a Repo,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Listed>>> {
        Box::pin(async { Ok(BTreeMap::new()) })
    }

    /// How long `steps` take at the pace this registry's API keeps to its rate budget, from its
    /// budget as last reported; `None` where nothing paces the requests.
    fn paced(&self, _steps: &[Step]) -> Option<Paced> {
        None
    }

    /// Every repository on `host` at or under the path `under` (`team` gives `team` and
    /// `team/a/b`; empty gives all), as paths without the host, sorted. The OCI way is the
    /// catalog ([`catalog`]); vendors with a listing API override this (their
    /// [`Capabilities::repository_listing`] says so).
    fn repositories<'a>(
        &'a self,
        host: &'a str,
        under: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(catalog(self.oci(), host, under))
    }

    /// Makes sure a repository can be pushed to (creates it where the registry needs that).
    fn ensure_repository<'a>(&'a self, _repo: &'a Repo) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// When a manifest was pushed or created. The OCI way reads the image config's `created`
    /// (for an index: its first child's); vendors with listing times override this.
    fn created<'a>(
        &'a self,
        repo: &'a Repo,
        digest: &'a str,
        media_type: &'a str,
        children: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<Option<SystemTime>>> {
        Box::pin(async move {
            let target = if media::is_index(media_type) {
                match children.first() {
                    Some((child, _)) => child.as_str(),
                    None => return Ok(None),
                }
            } else {
                digest
            };
            config_created(self.oci(), repo, target).await
        })
    }

    /// Deletes a manifest by digest (every tag on it goes too).
    fn delete_digest<'a>(
        &'a self,
        repo: &'a Repo,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Deleted>> {
        Box::pin(self.oci().delete_manifest(repo, digest))
    }

    /// Removes one tag and keeps the digest. `tag_delete_works` carries what earlier calls learned.
    fn untag<'a>(
        &'a self,
        repo: &'a Repo,
        tag: &'a str,
        tag_delete_works: Option<bool>,
    ) -> BoxFuture<'a, Result<(untag::Untagged, bool)>> {
        Box::pin(untag::untag(self.as_dyn(), repo, tag, tag_delete_works))
    }

    /// Deletes many digests of one repository; one result per digest, in order. Vendors with a
    /// batch API (ECR) override this; the default runs `delete_digest` concurrently.
    fn delete_digests<'a>(
        &'a self,
        repo: &'a Repo,
        digests: &'a [String],
        concurrency: usize,
    ) -> BoxFuture<'a, Vec<Result<Deleted>>> {
        let calls: Vec<_> = digests
            .iter()
            .map(|d| self.delete_digest(repo, d))
            .collect();
        Box::pin(in_order_unordered(calls, concurrency))
    }

    /// Removes many tags of one repository, each keeping its digest; one result per tag, in
    /// order. The default reuses what the first call learned about the OCI tag delete so a
    /// refused one is not tried again for every tag. Native tag deletes run concurrently; safe
    /// untags run one at a time: each ends in a manifest DELETE, and on distribution such a
    /// DELETE reads every tag link of the repository while parallel PUTs rewrite them, which
    /// makes it fail half-way (HTTP 500) and leaves a tag without its manifest.
    fn untag_tags<'a>(
        &'a self,
        repo: &'a Repo,
        tags: &'a [String],
        concurrency: usize,
    ) -> BoxFuture<'a, Vec<Result<untag::Untagged>>> {
        Box::pin(async move {
            let Some((first, rest)) = tags.split_first() else {
                return Vec::new();
            };
            let (first, learned) = match self.untag(repo, first, None).await {
                Ok((u, works)) => (Ok(u), Some(works)),
                Err(e) => (Err(e), None),
            };
            let mut out = vec![first];
            let calls: Vec<_> = rest
                .iter()
                .map(|t| self.untag(repo, t.as_str(), learned))
                .collect();
            let concurrency = if learned == Some(true) {
                concurrency
            } else {
                1
            };
            let more = in_order_unordered(calls, concurrency).await;
            out.extend(more.into_iter().map(|r| r.map(|(u, _)| u)));
            out
        })
    }
}

/// Runs `calls` with at most `concurrency` in flight and returns their results in input order.
/// Unordered while running: with ordered buffering one slow call (registry DELETEs cost
/// O(tags) on distribution) would hold back the slots of those finished after it.
async fn in_order_unordered<'a, T: Send + 'a>(
    calls: Vec<BoxFuture<'a, T>>,
    concurrency: usize,
) -> Vec<T> {
    // Indexed eagerly (no closure lives across the await, which keeps the future `Send`).
    let indexed: Vec<BoxFuture<'a, (usize, T)>> = calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| -> BoxFuture<'a, (usize, T)> { Box::pin(async move { (i, c.await) }) })
        .collect();
    let mut out: Vec<(usize, T)> = futures_util::stream::iter(indexed)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Whether `name` is `under` or a repository below it (an empty `under` holds everything).
pub fn is_under(name: &str, under: &str) -> bool {
    let under = under.trim_matches('/');
    under.is_empty()
        || name == under
        || name
            .strip_prefix(under)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Sorts, dedups and keeps the names at or under `under`: what every listing returns.
pub fn repositories_under(names: impl IntoIterator<Item = String>, under: &str) -> Vec<String> {
    let mut out: Vec<String> = names.into_iter().filter(|n| is_under(n, under)).collect();
    out.sort();
    out.dedup();
    out
}

/// Page size asked of the catalog; distribution's default limit is 1000 a page.
const CATALOG_PAGE: usize = 1000;

#[derive(serde::Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

/// `GET /v2/_catalog?n=…`, following `Link` pages
/// (<https://distribution.github.io/distribution/spec/api/#catalog>), filtered to `under`.
/// Registries that refuse the catalog (Docker Hub, many hosted ones: 401, 403 or 404) get an
/// error that says how to name the repositories instead.
pub async fn catalog(oci: &Distribution, host: &str, under: &str) -> Result<Vec<String>> {
    use reqwest::StatusCode;
    let base = oci.transport().base_url(host).await?;
    let mut url = base
        .join(&format!("v2/_catalog?n={CATALOG_PAGE}"))
        .map_err(|e| crate::error::Error::input(format!("invalid registry host {host}: {e}")))?;
    let scope = auth::Scope {
        kind: "registry".into(),
        name: "catalog".into(),
        actions: ["*".to_string()].into_iter().collect(),
    };
    let mut all = Vec::new();
    let mut pages = paging::Pages::new(format!("the repository catalog of {host}"));
    loop {
        pages.visit_url(&url)?;
        let resp = oci
            .transport()
            .send(transport::Request::new(reqwest::Method::GET, url.clone()).scope(scope.clone()))
            .await?;
        let status = resp.status();
        if matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ) {
            return Err(crate::error::Error::unsupported(format!(
                "{host} does not list its repositories to these credentials: GET /v2/_catalog \
                 answered {status}"
            ))
            .with_hint(
                "name the images instead of --all-repositories (--image NAME, repeatable, or \
                 image documents in dockhand.yaml), or use credentials allowed the catalog",
            ));
        }
        let resp = distribution::check(resp, "list the repositories of", &url).await?;
        let next = distribution::next_link(resp.headers(), &url);
        let page: CatalogPage = resp.json().await.map_err(|e| {
            crate::error::Error::operation(format!(
                "the repository catalog of {host} is not valid JSON: {e}"
            ))
        })?;
        all.extend(page.repositories.unwrap_or_default());
        match next {
            Some(n) => url = n,
            None => return Ok(repositories_under(all, under)),
        }
    }
}

/// The `created` time of an image's config, or `None` when it has none or it cannot be read.
pub async fn config_created(
    oci: &Distribution,
    repo: &Repo,
    digest: &str,
) -> Result<Option<SystemTime>> {
    match oci.get_manifest(repo, digest).await? {
        Some(m) => config_created_of(oci, repo, &m).await,
        None => Ok(None),
    }
}

/// The `created` time in the config of a manifest already fetched.
pub async fn config_created_of(
    oci: &Distribution,
    repo: &Repo,
    m: &media::Manifest,
) -> Result<Option<SystemTime>> {
    match m.fields().ok().and_then(|f| f.config) {
        Some(config) => blob_created(oci, repo, &config).await,
        None => Ok(None),
    }
}

/// The `created` time of an image config blob; `None` for artifacts (empty config) or when the
/// config says nothing usable.
pub async fn blob_created(
    oci: &Distribution,
    repo: &Repo,
    config: &media::Descriptor,
) -> Result<Option<SystemTime>> {
    if config.media_type == media::OCI_EMPTY {
        return Ok(None);
    }
    let resp = oci.get_blob(repo, &config.digest).await?;
    let Ok(value) = resp.json::<serde_json::Value>().await else {
        return Ok(None);
    };
    Ok(value
        .get("created")
        .and_then(|c| c.as_str())
        .and_then(|c| humantime::parse_rfc3339_weak(c).ok()))
}

/// The accessors every [`Registry`] implementation writes the same way, for a struct with its
/// capabilities in `caps` and its OCI client in `oci`. Used inside `impl Registry for …`.
macro_rules! registry_accessors {
    () => {
        fn capabilities(&self) -> $crate::implementation::Capabilities {
            self.caps
        }
        fn as_dyn(&self) -> &dyn $crate::registry::Registry {
            self
        }
        fn oci(&self) -> &$crate::registry::distribution::Distribution {
            &self.oci
        }
    };
}
pub(crate) use registry_accessors;

/// One [`Registry`] method an implementation overrides, written as a closure over the method's
/// arguments whose body is the future: `registry_call!(listing, self, |repo, _timed| self.list(repo));`.
/// The boxed-future signature is written here once instead of in every implementation file
/// (`self` is passed in because a macro may not name its caller's `self` itself).
macro_rules! registry_call {
    (listing, $s:tt, |$repo:ident, $timed:ident| $body:expr) => {
        fn listing<'a>(
            &'a $s,
            $repo: &'a $crate::registry::distribution::Repo,
            $timed: $crate::registry::Timed<'a>,
        ) -> futures_util::future::BoxFuture<'a, $crate::error::Result<Option<$crate::registry::Listing>>> {
            Box::pin($body)
        }
    };
    (ensure_repository, $s:tt, |$repo:ident| $body:expr) => {
        fn ensure_repository<'a>(
            &'a $s,
            $repo: &'a $crate::registry::distribution::Repo,
        ) -> futures_util::future::BoxFuture<'a, $crate::error::Result<()>> {
            Box::pin($body)
        }
    };
    (delete_digest, $s:tt, |$repo:ident, $digest:ident| $body:expr) => {
        fn delete_digest<'a>(
            &'a $s,
            $repo: &'a $crate::registry::distribution::Repo,
            $digest: &'a str,
        ) -> futures_util::future::BoxFuture<'a, $crate::error::Result<$crate::registry::distribution::Deleted>> {
            Box::pin($body)
        }
    };
    (untag, $s:tt, |$repo:ident, $tag:ident, $works:ident| $body:expr) => {
        fn untag<'a>(
            &'a $s,
            $repo: &'a $crate::registry::distribution::Repo,
            $tag: &'a str,
            $works: Option<bool>,
        ) -> futures_util::future::BoxFuture<'a, $crate::error::Result<($crate::registry::untag::Untagged, bool)>> {
            Box::pin($body)
        }
    };
    (delete_digests, $s:tt, |$repo:ident, $digests:ident, $concurrency:ident| $body:expr) => {
        fn delete_digests<'a>(
            &'a $s,
            $repo: &'a $crate::registry::distribution::Repo,
            $digests: &'a [String],
            $concurrency: usize,
        ) -> futures_util::future::BoxFuture<'a, Vec<$crate::error::Result<$crate::registry::distribution::Deleted>>> {
            Box::pin($body)
        }
    };
    (untag_tags, $s:tt, |$repo:ident, $tags:ident, $concurrency:ident| $body:expr) => {
        fn untag_tags<'a>(
            &'a $s,
            $repo: &'a $crate::registry::distribution::Repo,
            $tags: &'a [String],
            $concurrency: usize,
        ) -> futures_util::future::BoxFuture<'a, Vec<$crate::error::Result<$crate::registry::untag::Untagged>>> {
            Box::pin($body)
        }
    };
    (repositories, $s:tt, |$host:ident, $under:ident| $body:expr) => {
        fn repositories<'a>(
            &'a $s,
            $host: &'a str,
            $under: &'a str,
        ) -> futures_util::future::BoxFuture<'a, $crate::error::Result<Vec<String>>> {
            Box::pin($body)
        }
    };
    (created, $s:tt, |$repo:ident, $digest:ident, $media_type:ident, $children:ident| $body:expr) => {
        fn created<'a>(
            &'a $s,
            $repo: &'a $crate::registry::distribution::Repo,
            $digest: &'a str,
            $media_type: &'a str,
            $children: &'a [(String, String)],
        ) -> futures_util::future::BoxFuture<'a, $crate::error::Result<Option<std::time::SystemTime>>> {
            Box::pin($body)
        }
    };
}
pub(crate) use registry_call;

/// Any OCI Distribution registry: everything through the provided methods.
pub struct Generic {
    caps: Capabilities,
    oci: Distribution,
}

impl Generic {
    pub fn new(caps: Capabilities, oci: Distribution) -> Generic {
        Generic { caps, oci }
    }
}

impl Registry for Generic {
    crate::registry::registry_accessors!();
}

pub use implementations::open;
