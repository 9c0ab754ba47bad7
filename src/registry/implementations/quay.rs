//! Quay (quay.io and Red Hat Quay).
//!
//! - The Quay REST API (`<scheme>://<host>/api/v1`, on the registry host) takes an OAuth
//!   application token as `Authorization: Bearer` (`--quay-token`). It lists the active tags with
//!   their push times (`GET …/tag/?onlyActiveTags=true`, paged by `page`/`has_additional`) and
//!   removes one tag (`DELETE …/tag/{tag}` → 204). Robot accounts cannot use this API: they are
//!   registry logins only.
//! - A whole digest goes through the registry: `DELETE /v2/<ns>/<repo>/manifests/<digest>` → 202
//!   deletes every tag on it in one request, and Quay refuses it as a whole while any of those
//!   tags is immutable (409 `TAG_IMMUTABLE`), so nothing is half done. Deleting the tags one by
//!   one through the API would cost a request per tag and could not reach untagged manifests
//!   (index children, signatures). Quay's registry checks the `push` action for DELETE (its token
//!   endpoint knows `pull`, `push` and `*`, not `delete`), so that is the scope asked for.
//! - Without `--quay-token`, cleanup still works through the registry alone: the OCI tag list
//!   with image config times, and registry tag DELETE (202 on Quay).
//! - Given a token and no registry credentials, the token logs in to the registry too, as Quay
//!   allows (user `$oauthtoken`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::Registration;
use crate::error::{Error, Result};
use crate::implementation::{
    Capabilities, Depth, HostPattern, Implementation, Probe, RepositoryListing, Sign, Spec,
};
use crate::registry::auth::Scope;
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo};
use crate::registry::host::HostConfig;
use crate::registry::media::ACCEPT_MANIFESTS;
use crate::registry::paging::Pages;
use crate::registry::rest::{OciError, encode_segment};
use crate::registry::transport::Request;
use crate::registry::untag::Untagged;
use crate::registry::{Listed, Listing, Registry};
use crate::secret::{Secret, redact_url};

/// Largest page of the tag API (Quay's API: `limit` ≤ 100).
const PAGE_SIZE: usize = 100;

const TOKEN_HINT: &str = "give an OAuth application token (Organization → Applications → Generate Token) \
     with the repo:read and repo:write scopes as --quay-token; robot account tokens work only for \
     the registry, not for this API";

pub struct Quay {
    caps: Capabilities,
    oci: Distribution,
    host: String,
    token: Option<Secret>,
    /// Said once that the API is not used.
    told_no_token: AtomicBool,
}

impl Quay {
    pub async fn open(
        caps: Capabilities,
        oci: Distribution,
        host: &str,
        config: &HostConfig,
    ) -> Result<Quay> {
        let token = config.vendor.quay_token.clone();
        if let Some(t) = &token
            && oci.transport().credential(host).await?.is_none()
        {
            // Quay accepts an OAuth access token as a registry password for `$oauthtoken`.
            oci.transport()
                .set_credential(host, Credential::basic("$oauthtoken", t.expose()));
        }
        Ok(Quay {
            caps,
            oci,
            host: host.to_string(),
            token,
            told_no_token: AtomicBool::new(false),
        })
    }

    /// The API token, or `None` (then the registry alone is used; said once).
    fn token(&self) -> Option<&Secret> {
        if self.token.is_none() && !self.told_no_token.swap(true, Ordering::Relaxed) {
            crate::log::verbose(&format!(
                "no --quay-token: cleanup on {} uses the registry API only (tag list, image \
                 config times, registry DELETE)",
                self.host
            ));
        }
        self.token.as_ref()
    }

    /// `<base>/api/v1/repository/{ns}/{repo}/tag/` plus `tail`.
    async fn tag_url(&self, repo: &Repo, tail: &str) -> Result<Url> {
        let (ns, name) = split(repo)?;
        let base = self.oci.transport().base_url(&self.host).await?;
        let s = format!(
            "{base}api/v1/repository/{}/{}/tag/{tail}",
            encode_segment(ns),
            encode_segment(name)
        );
        Url::parse(&s).map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))
    }

    async fn api_send(
        &self,
        method: Method,
        url: Url,
        token: &Secret,
    ) -> Result<reqwest::Response> {
        let mut req = Request::new(method, url);
        req.registry_auth = false;
        let v = crate::registry::transport::bearer_value(token)
            .ok_or_else(|| Error::input("--quay-token holds characters not allowed in a header"))?;
        req.headers.insert(AUTHORIZATION, v);
        req.headers
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        self.oci.transport().send(req).await
    }

    async fn fail(resp: reqwest::Response, what: &str, url: &Url) -> Error {
        let status = resp.status().as_u16();
        let e = quay_error(resp).await;
        let detail = e.summary();
        let url = redact_url(url);
        match status {
            401 => Error::auth(format!(
                "Quay did not accept --quay-token to {what} ({url}: HTTP 401{detail}): it needs an \
                 OAuth application token"
            ))
            .with_hint(TOKEN_HINT),
            403 => Error::auth(format!(
                "Quay refused to {what} ({url}: HTTP 403{detail}): the OAuth token needs the \
                 repo:write scope (repo:read to list), and its user write or admin permission on \
                 the repository"
            ))
            .with_hint(TOKEN_HINT),
            _ => Error::operation(format!(
                "Quay API: cannot {what} ({url}: HTTP {status}{detail})"
            )),
        }
    }

    async fn tags(&self, repo: &Repo, token: &Secret) -> Result<Vec<QuayTag>> {
        let mut all = Vec::new();
        let mut pages = Pages::new(format!("the Quay tag list of {repo}"));
        let mut page = 0;
        loop {
            page += 1;
            // onlyActiveTags: without it the answer is the tag history, expired entries included.
            let url = self
                .tag_url(
                    repo,
                    &format!("?onlyActiveTags=true&limit={PAGE_SIZE}&page={page}"),
                )
                .await?;
            pages.visit_url(&url)?;
            let resp = self.api_send(Method::GET, url.clone(), token).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(all);
            }
            if !resp.status().is_success() {
                return Err(Self::fail(resp, &format!("list the tags of {repo}"), &url).await);
            }
            let body: TagPage = resp.json().await.map_err(|e| {
                Error::operation(format!("Quay tag list of {repo} is not valid JSON: {e}"))
            })?;
            let empty = body.tags.is_empty();
            all.extend(body.tags);
            if !body.has_additional || empty {
                return Ok(all);
            }
        }
    }

    /// The repositories of a namespace (`GET /api/v1/repository?namespace=…`, paged by the
    /// opaque `next_page` token: docs.quay.io/api/swagger, "listRepos"), as `ns/name`.
    async fn namespace_repositories(&self, ns: &str, token: &Secret) -> Result<Vec<String>> {
        let base = self.oci.transport().base_url(&self.host).await?;
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = Pages::new(format!("the Quay repository list of {ns}"));
        loop {
            let mut url = Url::parse(&format!("{base}api/v1/repository"))
                .map_err(|e| Error::input(format!("Quay API address for {}: {e}", self.host)))?;
            url.query_pairs_mut().append_pair("namespace", ns);
            if let Some(n) = &next {
                url.query_pairs_mut().append_pair("next_page", n);
            }
            pages.visit_url(&url)?;
            let resp = self.api_send(Method::GET, url.clone(), token).await?;
            if !resp.status().is_success() {
                return Err(
                    Self::fail(resp, &format!("list the repositories of {ns}"), &url).await,
                );
            }
            let body: RepositoryPage = resp.json().await.map_err(|e| {
                Error::operation(format!(
                    "Quay repository list of {ns} is not valid JSON: {e}"
                ))
            })?;
            all.extend(
                body.repositories
                    .into_iter()
                    .map(|r| format!("{}/{}", r.namespace, r.name)),
            );
            match body.next_page {
                Some(n) if !n.is_empty() => next = Some(n),
                _ => return Ok(all),
            }
        }
    }

    /// A registry DELETE by tag or digest with the `push` scope Quay checks.
    async fn registry_delete(&self, repo: &Repo, reference: &str) -> Result<Deleted> {
        let base = self.oci.transport().base_url(&repo.host).await?;
        let url = Url::parse(&format!("{base}v2/{}/manifests/{reference}", repo.name))
            .map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))?;
        let req = Request::new(Method::DELETE, url.clone())
            .header(ACCEPT, ACCEPT_MANIFESTS)
            .scope(Scope::repository(&repo.name, &["pull", "push"]));
        let resp = self.oci.transport().send(req).await?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(Deleted::Done),
            404 => Ok(Deleted::NotFound),
            400 | 405 | 409 | 412 => {
                let e = quay_error(resp).await;
                if let Some(reason) = e.kept_reason() {
                    return Ok(Deleted::Kept { reason });
                }
                if e.expired() {
                    return Ok(Deleted::NotFound);
                }
                Ok(Deleted::Unsupported {
                    status,
                    code: e.code.or(e.error_type),
                })
            }
            401 | 403 => {
                let e = quay_error(resp).await;
                Err(Error::auth(format!(
                    "Quay's registry refused to delete {repo}:{reference} ({}: HTTP {status}{}): the \
                     login needs write permission on the repository",
                    redact_url(&url),
                    e.summary()
                ))
                .with_hint(
                    "use a robot account (or user) with Write or Admin on the repository as the \
                     registry credentials, or give --quay-token",
                ))
            }
            _ => {
                let e = quay_error(resp).await;
                Err(Error::operation(format!(
                    "Quay's registry: cannot delete {repo}:{reference} ({}: HTTP {status}{})",
                    redact_url(&url),
                    e.summary()
                )))
            }
        }
    }
}

impl Registry for Quay {
    crate::registry::registry_accessors!();

    crate::registry::registry_call!(listing, self, |repo, _timed| async move {
        let Some(token) = self.token() else {
            return Ok(None);
        };
        Ok(Some(to_listing(
            self.tags(repo, token).await?,
            SystemTime::now(),
        )))
    });

    // The namespace's repositories through the API; without --quay-token, the registry's
    // catalog (which lists what the registry login may see).
    crate::registry::registry_call!(repositories, self, |host, under| async move {
        let ns = under.split('/').next().unwrap_or_default();
        match self.token() {
            Some(token) if !ns.is_empty() => Ok(crate::registry::repositories_under(
                self.namespace_repositories(ns, token).await?,
                under,
            )),
            _ => crate::registry::catalog(&self.oci, host, under).await,
        }
    });

    crate::registry::registry_call!(delete_digest, self, |repo, digest| self
        .registry_delete(repo, digest));

    crate::registry::registry_call!(untag, self, |repo, tag, _tag_delete_works| async move {
        let Some(token) = self.token() else {
            let u = match self.registry_delete(repo, tag).await? {
                Deleted::Done => Untagged::Native,
                Deleted::NotFound => Untagged::Absent,
                Deleted::Kept { reason } => Untagged::Kept(reason),
                Deleted::Unsupported { status, code } => {
                    return Err(Error::operation(format!(
                        "Quay's registry refused to delete tag {repo}:{tag} (HTTP {status}{})",
                        code.map(|c| format!(" {c}")).unwrap_or_default()
                    ))
                    .with_hint("give --quay-token to delete tags through the Quay API"));
                }
            };
            return Ok((u, true));
        };
        let url = self.tag_url(repo, &encode_segment(tag)).await?;
        let resp = self.api_send(Method::DELETE, url.clone(), token).await?;
        let status = resp.status().as_u16();
        let u = match status {
            200..=299 => Untagged::Native,
            404 => Untagged::Absent,
            400 | 409 | 412 => {
                let e = quay_error(resp).await;
                if let Some(reason) = e.kept_reason() {
                    Untagged::Kept(reason)
                } else if e.expired() {
                    Untagged::Absent
                } else {
                    return Err(Error::operation(format!(
                        "Quay API: cannot delete tag {repo}:{tag} ({}: HTTP {status}{})",
                        redact_url(&url),
                        e.summary()
                    )));
                }
            }
            _ => {
                return Err(Self::fail(resp, &format!("delete tag {repo}:{tag}"), &url).await);
            }
        };
        Ok((u, true))
    });
}

#[derive(Debug, Deserialize)]
struct RepositoryPage {
    #[serde(default)]
    repositories: Vec<QuayRepository>,
    #[serde(default)]
    next_page: Option<String>,
}

#[derive(Debug, Deserialize)]
struct QuayRepository {
    namespace: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Vec<QuayTag>,
    #[serde(default)]
    has_additional: bool,
}

/// One tag entry of Quay's tag API.
#[derive(Debug, Deserialize)]
struct QuayTag {
    name: String,
    #[serde(default)]
    manifest_digest: Option<String>,
    #[serde(default)]
    start_ts: Option<i64>,
    #[serde(default)]
    end_ts: Option<i64>,
    #[serde(default)]
    last_modified: Option<String>,
}

fn to_listing(tags: Vec<QuayTag>, now: SystemTime) -> Listing {
    let now_s = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut listing = Listing::default();
    for t in tags {
        // An entry that has already ended is history, not a tag (onlyActiveTags should hide it).
        if t.end_ts.is_some_and(|e| e <= now_s) {
            continue;
        }
        let Some(digest) = t.manifest_digest.filter(|d| !d.is_empty()) else {
            continue;
        };
        let pushed = t
            .start_ts
            .filter(|s| *s > 0)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s as u64))
            .or_else(|| {
                t.last_modified
                    .as_deref()
                    .and_then(crate::registry::rest::parse_time)
            });
        let entry = listing.manifests.entry(digest.clone()).or_insert(Listed {
            // The tag API does not give a manifest media type: one HEAD per digest tells it.
            media_type: None,
            pushed: None,
            ..Default::default()
        });
        // The digest's newest push counts (several tags may point at it).
        entry.pushed = entry.pushed.max(pushed);
        listing.tags.insert(t.name, digest);
    }
    listing
}

/// Quay's API errors (RFC 7807-like) and its registry errors (`{"errors":[…]}`), read together.
#[derive(Debug, Default, Deserialize)]
struct QuayError {
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(skip)]
    code: Option<String>,
    #[serde(skip)]
    message: Option<String>,
}

impl QuayError {
    fn summary(&self) -> String {
        let kind = self
            .error_type
            .as_deref()
            .or(self.code.as_deref())
            .or(self.title.as_deref());
        let text = self
            .error_message
            .as_deref()
            .or(self.detail.as_deref())
            .or(self.message.as_deref());
        match (kind, text) {
            (Some(k), Some(t)) => format!(" {k}: {t}"),
            (Some(k), None) => format!(" {k}"),
            (None, Some(t)) => format!(": {t}"),
            (None, None) => String::new(),
        }
    }
    fn names(&self, what: &str) -> bool {
        [&self.error_type, &self.title, &self.code]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(what)))
    }
    /// Quay keeps immutable tags: the API answers 409 `tag_immutable`, the registry 409
    /// `TAG_IMMUTABLE`.
    fn kept_reason(&self) -> Option<String> {
        self.names("tag_immutable").then(|| {
            let text = self
                .error_message
                .as_deref()
                .or(self.detail.as_deref())
                .or(self.message.as_deref())
                .unwrap_or("the tag is immutable");
            format!("Quay immutable tag: {text}")
        })
    }
    fn expired(&self) -> bool {
        self.names("tag_expired")
    }
}

async fn quay_error(resp: reqwest::Response) -> QuayError {
    let text = resp.text().await.unwrap_or_default();
    let mut e: QuayError = serde_json::from_str(&text).unwrap_or_default();
    if let Some(i) = OciError::first(&text) {
        e.code = i.code;
        e.message = i.message;
    }
    e
}

/// `namespace/repository`: Quay does not nest.
fn split(repo: &Repo) -> Result<(&str, &str)> {
    match repo.name.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns, name))
        }
        _ => Err(Error::input(format!(
            "{repo}: a Quay repository is NAMESPACE/REPOSITORY, exactly two components"
        ))
        .with_hint("Quay cannot nest repositories: use HOST/NAMESPACE (multirepo) or HOST/NAMESPACE/REPOSITORY (monorepo)")),
    }
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const Quay: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "quay",
    title: "Quay",
    help: "Quay",
    aliases: &[],
    capabilities: |_, common| Capabilities {
        depth: Depth {
            min: 2,
            max: Some(2),
        },
        repository_listing: RepositoryListing::VendorApi,
        ..common
    },
    hosts: &[HostPattern {
        regex: r"^quay\.io$",
        what: "Quay.io",
        example: "quay.io",
    }],
    unprobed_prefix: None,
    probe: Probe {
        proof: &[Sign::Confirmed {
            realm_any: &["/v2/auth"],
            path: "api/v1/discovery",
            check: |v| v.pointer("/info/title").and_then(|t| t.as_str()) == Some("Quay Frontend"),
        }],
        hint: &[],
        reason: "serves Quay's /api/v1/discovery",
    },
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::Quay,
    open: |caps, oci, host, config| {
        Box::pin(async move {
            Ok(Box::new(Quay::open(caps, oci, host, config).await?) as Box<dyn Registry>)
        })
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2822_times() {
        let t = crate::registry::rest::parse_time("Mon, 06 Jan 2025 10:00:00 -0000").unwrap();
        assert_eq!(t, humantime::parse_rfc3339("2025-01-06T10:00:00Z").unwrap());
        assert_eq!(
            crate::registry::rest::parse_time("Mon, 06 Jan 2025 10:00:00 +0200"),
            None
        );
    }

    #[test]
    fn listing_skips_ended_entries_and_keeps_the_newest_push() {
        let json = r#"[
          {"name":"a","manifest_digest":"sha256:1","start_ts":100,"is_manifest_list":false},
          {"name":"b","manifest_digest":"sha256:1","start_ts":300},
          {"name":"old","manifest_digest":"sha256:2","start_ts":50,"end_ts":60},
          {"name":"c","manifest_digest":"sha256:3",
           "last_modified":"Mon, 06 Jan 2025 10:00:00 -0000"}
        ]"#;
        let tags: Vec<QuayTag> = serde_json::from_str(json).unwrap();
        let l = to_listing(tags, UNIX_EPOCH + Duration::from_secs(1_000));
        assert_eq!(l.tags.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            l.manifests["sha256:1"].pushed,
            Some(UNIX_EPOCH + Duration::from_secs(300))
        );
        assert!(l.manifests["sha256:3"].pushed.is_some());
        assert!(!l.manifests.contains_key("sha256:2"));
    }

    #[test]
    fn errors_tell_immutable_and_expired() {
        let e: QuayError = serde_json::from_str(
            r#"{"status":409,"error_type":"tag_immutable","title":"tag_immutable","detail":"Tag v1 is immutable"}"#,
        )
        .unwrap();
        assert!(e.kept_reason().unwrap().contains("v1 is immutable"));
        let e = QuayError {
            code: Some("TAG_EXPIRED".into()),
            ..Default::default()
        };
        assert!(e.expired());
        assert!(e.kept_reason().is_none());
    }

    #[test]
    fn no_nesting() {
        assert!(split(&Repo::new("quay.io", "acme/app")).is_ok());
        assert!(split(&Repo::new("quay.io", "acme/a/b")).is_err());
        assert!(split(&Repo::new("quay.io", "app")).is_err());
    }
}
