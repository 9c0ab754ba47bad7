//! Azure Container Registry (docs/registries.md#azure-container-registry; Azure AD logins as in
//! https://azure.github.io/acr/AAD-OAuth.html): Azure AD logins without the `az` CLI, tag
//! listing with times and per-tag untag through the ACR data-plane API (`/acr/v1`), and locks.
//!
//! **Credentials**, first found wins:
//! 1. `--azure-access-token`: an Azure AD access token, exchanged at `POST /oauth2/exchange`
//!    for an ACR refresh token.
//! 2. A service principal (`--azure-client-id/-secret/-tenant-id`, defaults `AZURE_*`): an Azure AD
//!    token by the client-credentials grant at `<authority>/<tenant>/oauth2/v2.0/token`, then the
//!    same exchange.
//! 3. The registry credential (options or Docker config): the admin user or a repository-scoped
//!    token as Basic; a user name of the empty GUID marks an ACR refresh token (what
//!    `az acr login --expose-token` prints for `docker login`), which is never sent as Basic.
//!
//! **Design:** an ACR refresh token is installed as the host's registry credential
//! ([`Credential::IdentityToken`]). The transport's challenge flow then spends it at the realm
//! (`POST /oauth2/token`, `grant_type=refresh_token`, one `scope` per repository with the
//! actions the request needs) and sends the access token as Bearer, for the OCI data plane and
//! for `/acr/v1` alike: one token cache, per-scope tokens, refreshed when they expire.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::Registration;
use crate::error::{Error, Kind, Result};
use crate::implementation::{Capabilities, HostPattern, Implementation, Probe, Sign, Spec};
use crate::registry::auth::Scope;
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo, next_link};
use crate::registry::host::{HostConfig, VendorApis};
use crate::registry::paging::Pages;
use crate::registry::rest::parse_time;
use crate::registry::transport::{Body, Request, Transport};
use crate::registry::untag::{self, Untagged};
use crate::registry::{Listed, Listing, Registry};
use crate::secret::{Secret, redact_url};

/// The user name that marks a token instead of a password (`docker login` with a refresh token).
pub const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// The Azure AD scope of ACR data-plane tokens.
pub const AAD_SCOPE: &str = "https://containerregistry.azure.net/.default";

/// ACR's error code when a lock (`deleteEnabled`/`writeEnabled` false) refuses an operation
/// (seen in Azure/acr-cli#70: 405 `REGISTRY_DISALLOWED_OPERATION`).
const DISALLOWED: &str = "REGISTRY_DISALLOWED_OPERATION";

const DELETE_ROLE: &str = "a role that may delete: AcrDelete, Contributor or Owner on the registry (or a repository-scoped token with content/delete)";
const READ_ROLE: &str = "a role that may read metadata: AcrPull, Reader or higher on the registry (or a repository-scoped token with metadata/read)";

pub struct Acr {
    caps: Capabilities,
    oci: Distribution,
    /// (repository, tag) → why the registry keeps it (a lock seen in the listing).
    locks: Mutex<HashMap<(String, String), String>>,
    /// (repository, digest) → the tags the listing showed on it.
    tags_of: Mutex<HashMap<(String, String), Vec<String>>>,
    /// (repository, digest) → why the registry keeps a manifest locked itself (`_manifests`).
    manifest_locks: Mutex<HashMap<(String, String), String>>,
    /// The classic SKU has no `/acr/v1` (405): the OCI ways instead.
    classic: AtomicBool,
}

/// A page of an `/acr/v1` metadata listing, or why there is none.
enum MetaPage<T> {
    Page(T, Option<Url>),
    /// 404: no such repository (yet).
    Missing,
    /// 405: the classic SKU, which has no `/acr/v1`.
    Classic,
}

/// Logs in as the settings say and returns the registry object.
pub async fn open(
    caps: Capabilities,
    oci: Distribution,
    host: &str,
    config: &HostConfig,
) -> Result<Box<dyn Registry>> {
    login(oci.transport(), host, config).await?;
    Ok(Box::new(Acr {
        caps,
        oci,
        locks: Mutex::default(),
        tags_of: Mutex::default(),
        manifest_locks: Mutex::default(),
        classic: AtomicBool::new(false),
    }))
}

/// A service principal from the settings: all three parts, none, or an input error.
struct ServicePrincipal {
    client_id: String,
    secret: Secret,
    tenant: String,
}

/// The secret makes a service principal: with it, the client id and tenant are required; without
/// it, `AZURE_CLIENT_ID`/`AZURE_TENANT_ID` alone (set for other tools, e.g. workload identity)
/// are no service principal.
fn service_principal(v: &VendorApis) -> Result<Option<ServicePrincipal>> {
    let Some(secret) = &v.azure_client_secret else {
        return Ok(None);
    };
    match (&v.azure_client_id, &v.azure_tenant_id) {
        (Some(id), Some(tenant)) => Ok(Some(ServicePrincipal {
            client_id: id.clone(),
            secret: secret.clone(),
            tenant: tenant.clone(),
        })),
        (id, tenant) => {
            let missing: Vec<&str> = [
                (id.is_none(), "--azure-client-id (AZURE_CLIENT_ID)"),
                (tenant.is_none(), "--azure-tenant-id (AZURE_TENANT_ID)"),
            ]
            .into_iter()
            .filter(|(m, _)| *m)
            .map(|(_, n)| n)
            .collect();
            Err(Error::input(format!(
                "an Azure service principal secret was given without {}",
                missing.join(" and ")
            ))
            .with_hint("give the client id, secret and tenant id together"))
        }
    }
}

/// The Azure AD login host for a registry host: as given, else the registry's cloud's.
pub fn authority(given: Option<&Url>, host: &str) -> String {
    if let Some(u) = given {
        return u.as_str().trim_end_matches('/').to_string();
    }
    let name = crate::detect::host_name(host);
    if name.ends_with(".azurecr.cn") {
        "https://login.chinacloudapi.cn".into()
    } else if name.ends_with(".azurecr.us") {
        "https://login.microsoftonline.us".into()
    } else {
        "https://login.microsoftonline.com".into()
    }
}

async fn login(transport: &Transport, host: &str, config: &HostConfig) -> Result<()> {
    let v = &config.vendor;
    // Checked before anything is sent: a half-given service principal is an input error.
    let sp = match &v.azure_access_token {
        Some(_) => None,
        None => service_principal(v)?,
    };
    let aad = if let Some(token) = &v.azure_access_token {
        Some((token.clone(), v.azure_tenant_id.clone()))
    } else if let Some(sp) = &sp {
        let authority = authority(v.azure_authority_host.as_ref(), host);
        Some((
            aad_token(transport, &authority, sp).await?,
            Some(sp.tenant.clone()),
        ))
    } else {
        None
    };
    if let Some((aad, tenant)) = aad {
        let refresh = exchange(transport, host, &aad, tenant.as_deref()).await?;
        transport.set_credential(host, Credential::IdentityToken { token: refresh });
        return Ok(());
    }
    // The az CLI rule: the empty GUID as user name means the password is a token, never Basic.
    if let Some(Credential::Basic { username, password }) = transport.credential(host).await?
        && username == EMPTY_GUID
    {
        transport.set_credential(host, Credential::IdentityToken { token: password });
    }
    Ok(())
}

fn form(pairs: &[(&str, &str)]) -> Body {
    let mut f = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        f.append_pair(k, v);
    }
    Body::Bytes(f.finish().into())
}

fn form_request(url: Url, pairs: &[(&str, &str)]) -> Request {
    let mut req = Request::new(Method::POST, url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(pairs));
    req.registry_auth = false;
    req.replay_on_connection_error = true;
    req
}

#[derive(Deserialize)]
struct AadError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// `POST <authority>/<tenant>/oauth2/v2.0/token` with the client-credentials grant.
async fn aad_token(
    transport: &Transport,
    authority: &str,
    sp: &ServicePrincipal,
) -> Result<Secret> {
    let url = Url::parse(&format!("{authority}/{}/oauth2/v2.0/token", sp.tenant))
        .map_err(|e| Error::input(format!("Azure authority host {authority:?}: {e}")))?;
    let authority_host = crate::registry::transport::host_port(&url);
    if url.scheme() != "https" && !transport.is_insecure(&authority_host) {
        return Err(Error::input(format!(
            "the Azure authority {} is not HTTPS; the client secret would travel in clear",
            redact_url(&url)
        ))
        .with_hint(format!(
            "use an https:// authority host, or --insecure-registry {authority_host} if that is intended"
        )));
    }
    let req = form_request(
        url.clone(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &sp.client_id),
            ("client_secret", sp.secret.expose()),
            ("scope", AAD_SCOPE),
        ],
    );
    let resp = transport.send(req).await?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = serde_json::from_str::<AadError>(&text)
            .map(|e| format!("{} {}", e.error, e.error_description))
            .unwrap_or_else(|_| text.chars().take(200).collect());
        let e = format!(
            "Azure AD refused a token for service principal {:?} in tenant {:?} (HTTP {}): {}",
            sp.client_id,
            sp.tenant,
            status.as_u16(),
            crate::secret::scrub(detail.trim())
        );
        return Err(if matches!(status.as_u16(), 400 | 401 | 403) {
            Error::auth(e).with_hint(
                "check AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID (and AZURE_AUTHORITY_HOST outside the public cloud)",
            )
        } else {
            Error::operation(e)
        });
    }
    let body: crate::registry::auth::TokenResponse = serde_json::from_str(&text)
        .map_err(|e| Error::operation(format!("Azure AD token reply is not JSON: {e}")))?;
    body.into_token()
        .map(|(t, _)| t)
        .ok_or_else(|| Error::operation("Azure AD token reply holds no access_token"))
}

#[derive(Deserialize)]
struct RefreshReply {
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `POST /oauth2/exchange`: an Azure AD access token for an ACR refresh token.
async fn exchange(
    transport: &Transport,
    host: &str,
    aad: &Secret,
    tenant: Option<&str>,
) -> Result<Secret> {
    let url = transport
        .base_url(host)
        .await?
        .join("oauth2/exchange")
        .map_err(|e| Error::input(e.to_string()))?;
    let mut pairs = vec![("grant_type", "access_token"), ("service", host)];
    if let Some(t) = tenant {
        pairs.push(("tenant", t));
    }
    pairs.push(("access_token", aad.expose()));
    let resp = transport.send(form_request(url, &pairs)).await?;
    let status = resp.status();
    if matches!(status.as_u16(), 401 | 403) {
        let (detail, _) = acr_error(resp).await;
        return Err(Error::auth(format!(
            "{host} refused to exchange the Azure AD token for a registry token (HTTP {}){detail}",
            status.as_u16()
        ))
        .with_hint(format!(
            "the identity needs a role on the registry ({}), and the Azure AD token must be for {AAD_SCOPE}",
            "AcrPush to publish; AcrDelete, Contributor or Owner to clean up"
        )));
    }
    if !status.is_success() {
        let (detail, _) = acr_error(resp).await;
        return Err(Error::operation(format!(
            "token exchange at {host} failed with HTTP {}{detail}",
            status.as_u16()
        )));
    }
    let reply: RefreshReply = resp.json().await.map_err(|e| {
        Error::operation(format!("token exchange reply of {host} is not JSON: {e}"))
    })?;
    reply
        .refresh_token
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or_else(|| {
            Error::operation(format!(
                "token exchange reply of {host} holds no refresh_token"
            ))
        })
}

/// `": <code> <message>"` (ACR errors: read `errors[0]`) and the code; the correlation id too.
async fn acr_error(resp: reqwest::Response) -> (String, Option<String>) {
    let correlation = resp
        .headers()
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|c| format!(" (correlation id {c})"))
        .unwrap_or_default();
    let text = resp.text().await.unwrap_or_default();
    match crate::registry::rest::OciError::first(&text) {
        Some(e) => (
            format!(
                ": {} {}{correlation}",
                e.code.as_deref().unwrap_or_default(),
                e.message.as_deref().unwrap_or_default()
            ),
            e.code.filter(|c| !c.is_empty()),
        ),
        None if text.trim().is_empty() => (correlation, None),
        None => (
            format!(": {}{correlation}", crate::registry::rest::excerpt(&text)),
            None,
        ),
    }
}

/// One tag of `GET /acr/v1/<repo>/_tags`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcrTag {
    name: String,
    digest: String,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    last_update_time: Option<String>,
    #[serde(default)]
    changeable_attributes: Option<Attributes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    #[serde(default)]
    delete_enabled: Option<bool>,
    #[serde(default)]
    write_enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<AcrTag>>,
}

/// One manifest of `GET /acr/v1/<repo>/_manifests`
/// (https://learn.microsoft.com/en-us/rest/api/containerregistry/manifests/get-list).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcrManifest {
    digest: String,
    /// Absent or empty on an untagged manifest.
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    last_update_time: Option<String>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    changeable_attributes: Option<Attributes>,
}

#[derive(Debug, Deserialize)]
struct ManifestsPage {
    #[serde(default)]
    manifests: Option<Vec<AcrManifest>>,
}

impl AcrManifest {
    fn untagged(&self) -> bool {
        self.tags.as_ref().is_none_or(Vec::is_empty)
    }

    /// The later of its times: a manifest re-pushed or changed since counts as younger, so the
    /// grace period never runs from a time too early.
    fn listed(&self) -> Listed {
        let t = |v: &Option<String>| v.as_deref().and_then(parse_time);
        Listed {
            media_type: self.media_type.clone().filter(|m| !m.is_empty()),
            pushed: t(&self.last_update_time).max(t(&self.created_time)),
            ..Default::default()
        }
    }
}

/// Why a tag with these attributes cannot be deleted, if it cannot. A write lock blocks deletes
/// too (Azure/acr-cli#134).
fn lock_reason(a: &Attributes) -> Option<&'static str> {
    if a.delete_enabled == Some(false) {
        Some("locked on the registry (deleteEnabled: false)")
    } else if a.write_enabled == Some(false) {
        Some("locked on the registry (writeEnabled: false)")
    } else {
        None
    }
}

impl Acr {
    async fn api_url(&self, repo: &Repo, tail: &str) -> Result<Url> {
        let base = self.oci.transport().base_url(&repo.host).await?;
        // Repository names keep their `/` in /acr/v1 paths
        // (docs/registries.md#azure-container-registry).
        Url::parse(&format!("{base}acr/v1/{}/{tail}", repo.name))
            .map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))
    }

    fn lock_of(&self, repo: &Repo, tag: &str) -> Option<String> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(repo.name.clone(), tag.to_string()))
            .cloned()
    }

    /// The manifest's own lock, else the first locked tag on it, from the listings.
    fn digest_lock(&self, repo: &Repo, digest: &str) -> Option<String> {
        if let Some(reason) = self
            .manifest_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(repo.name.clone(), digest.to_string()))
        {
            return Some(reason.clone());
        }
        let tags = self
            .tags_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(repo.name.clone(), digest.to_string()))
            .cloned()
            .unwrap_or_default();
        tags.iter()
            .find_map(|t| self.lock_of(repo, t).map(|r| format!("tag {t} is {r}")))
    }

    /// One page of an `/acr/v1` metadata listing (`endpoint`: `_tags` or `_manifests`) with
    /// the link to the next; a 405 marks the registry classic SKU. `needed_by` names what needs
    /// the read permission in a refusal.
    async fn metadata_page<T: serde::de::DeserializeOwned>(
        &self,
        repo: &Repo,
        url: &Url,
        endpoint: &str,
        needed_by: &str,
    ) -> Result<MetaPage<T>> {
        let what = endpoint.trim_start_matches('_');
        let req = Request::new(Method::GET, url.clone())
            .scope(Scope::repository(&repo.name, &["metadata_read"]));
        let resp = self.oci.transport().send(req).await?;
        let status = resp.status();
        match status.as_u16() {
            200 => {}
            404 => return Ok(MetaPage::Missing),
            405 => {
                crate::log::debug(&format!(
                    "{}: /acr/v1 answers 405 (classic SKU); using the OCI API",
                    repo.host
                ));
                self.classic.store(true, Ordering::Relaxed);
                return Ok(MetaPage::Classic);
            }
            401 | 403 => {
                let (detail, _) = acr_error(resp).await;
                return Err(Error::auth(format!(
                    "{} refused listing the {what} of {repo} (HTTP {}){detail}",
                    repo.host,
                    status.as_u16()
                ))
                .with_hint(format!(
                    "{needed_by} needs the scope repository:{}:metadata_read, i.e. {READ_ROLE}",
                    repo.name
                )));
            }
            _ => {
                let (detail, _) = acr_error(resp).await;
                return Err(Error::operation(format!(
                    "listing the {what} of {repo} failed with HTTP {}{detail}",
                    status.as_u16()
                )));
            }
        }
        let next = next_link(resp.headers(), url);
        let page = resp.json().await.map_err(|e| {
            Error::operation(format!(
                "{repo}: the {endpoint} reply is not what ACR sends: {e}"
            ))
        })?;
        Ok(MetaPage::Page(page, next))
    }

    async fn list(&self, repo: &Repo) -> Result<Option<Listing>> {
        if self.classic.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut url = self.api_url(repo, "_tags").await?;
        // `n` is ignored (pages of up to 1000); the `Link` header leads on.
        url.query_pairs_mut().append_pair("orderby", "timedesc");
        let mut listing = Listing::default();
        let mut locks = Vec::new();
        let mut pages = Pages::new(format!("the ACR _tags listing of {repo}"));
        loop {
            pages.visit_url(&url)?;
            let (page, next): (TagsPage, _) =
                match self.metadata_page(repo, &url, "_tags", "cleanup").await? {
                    MetaPage::Page(page, next) => (page, next),
                    MetaPage::Missing => return Ok(Some(Listing::default())),
                    // The classic SKU has no /acr/v1: tag list and manifests the OCI way.
                    MetaPage::Classic => return Ok(None),
                };
            for t in page.tags.unwrap_or_default() {
                let time = t
                    .last_update_time
                    .as_deref()
                    .and_then(parse_time)
                    .or_else(|| t.created_time.as_deref().and_then(parse_time));
                let entry = listing.manifests.entry(t.digest.clone()).or_insert(Listed {
                    media_type: None,
                    pushed: None,
                    ..Default::default()
                });
                // The digest was there at least since its earliest tag pointed at it.
                entry.pushed = match (entry.pushed, time) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if let Some(reason) = t.changeable_attributes.as_ref().and_then(lock_reason) {
                    locks.push((t.name.clone(), reason.to_string()));
                }
                listing.tags.insert(t.name, t.digest);
            }
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        {
            let mut l = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            l.retain(|(r, _), _| r != &repo.name);
            for (tag, reason) in locks {
                l.insert((repo.name.clone(), tag), reason);
            }
        }
        {
            let mut by_digest: HashMap<String, Vec<String>> = HashMap::new();
            for (tag, digest) in &listing.tags {
                by_digest
                    .entry(digest.clone())
                    .or_default()
                    .push(tag.clone());
            }
            let mut t = self.tags_of.lock().unwrap_or_else(|p| p.into_inner());
            t.retain(|(r, _), _| r != &repo.name);
            for (digest, tags) in by_digest {
                t.insert((repo.name.clone(), digest), tags);
            }
        }
        Ok(Some(listing))
    }

    /// The untagged manifests of `GET /acr/v1/<repo>/_manifests`, paged by `Link` like `_tags`;
    /// their own locks are remembered for the delete. Nothing on the classic SKU (405).
    async fn list_untagged(&self, repo: &Repo) -> Result<BTreeMap<String, Listed>> {
        let mut out = BTreeMap::new();
        if self.classic.load(Ordering::Relaxed) {
            return Ok(out);
        }
        let mut url = self.api_url(repo, "_manifests").await?;
        let mut locks = Vec::new();
        let mut pages = Pages::new(format!("the ACR _manifests listing of {repo}"));
        loop {
            pages.visit_url(&url)?;
            let (page, next): (ManifestsPage, _) = match self
                .metadata_page(repo, &url, "_manifests", "--delete-untagged")
                .await?
            {
                MetaPage::Page(page, next) => (page, next),
                MetaPage::Missing | MetaPage::Classic => return Ok(BTreeMap::new()),
            };
            for m in page.manifests.unwrap_or_default() {
                if let Some(reason) = m.changeable_attributes.as_ref().and_then(lock_reason) {
                    locks.push((m.digest.clone(), reason.to_string()));
                }
                if m.untagged() {
                    out.insert(m.digest.clone(), m.listed());
                }
            }
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        let mut l = self
            .manifest_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        l.retain(|(r, _), _| r != &repo.name);
        for (digest, reason) in locks {
            l.insert((repo.name.clone(), digest), reason);
        }
        Ok(out)
    }

    async fn untag_api(&self, repo: &Repo, tag: &str) -> Result<Option<Untagged>> {
        if let Some(reason) = self.lock_of(repo, tag) {
            return Ok(Some(Untagged::Kept(reason)));
        }
        let url = self.api_url(repo, &format!("_tags/{tag}")).await?;
        let req =
            Request::new(Method::DELETE, url).scope(Scope::repository(&repo.name, &["delete"]));
        let resp = self.oci.transport().send(req).await?;
        let status = resp.status();
        match status.as_u16() {
            200..=299 => Ok(Some(Untagged::Native)),
            404 => Ok(Some(Untagged::Absent)),
            401 | 403 => {
                let (detail, _) = acr_error(resp).await;
                Err(Error::auth(format!(
                    "{} refused removing tag {repo}:{tag} (HTTP {}){detail}",
                    repo.host,
                    status.as_u16()
                ))
                .with_hint(format!(
                    "untag needs the scope repository:{}:delete, i.e. {DELETE_ROLE}",
                    repo.name
                )))
            }
            405 | 409 => {
                let (detail, code) = acr_error(resp).await;
                if code.as_deref() == Some(DISALLOWED) || status == StatusCode::CONFLICT {
                    Ok(Some(Untagged::Kept(format!(
                        "locked on the registry{detail}"
                    ))))
                } else {
                    // No per-tag API here (classic SKU): the OCI way.
                    self.classic.store(true, Ordering::Relaxed);
                    Ok(None)
                }
            }
            _ => {
                let (detail, _) = acr_error(resp).await;
                Err(Error::operation(format!(
                    "removing tag {repo}:{tag} failed with HTTP {}{detail}",
                    status.as_u16()
                )))
            }
        }
    }
}

/// Names the role an auth error needs.
fn with_role(e: Error, repo: &Repo) -> Error {
    if e.kind == Kind::Auth {
        e.with_hint(format!(
            "deleting needs the scope repository:{}:delete, i.e. {DELETE_ROLE}",
            repo.name
        ))
    } else {
        e
    }
}

impl Registry for Acr {
    crate::registry::registry_accessors!();

    crate::registry::registry_call!(listing, self, |repo, _timed| self.list(repo));

    fn untagged_listing<'a>(
        &'a self,
        repo: &'a Repo,
    ) -> futures_util::future::BoxFuture<'a, Result<BTreeMap<String, Listed>>> {
        Box::pin(self.list_untagged(repo))
    }

    crate::registry::registry_call!(delete_digest, self, |repo, digest| async move {
        if let Some(reason) = self.digest_lock(repo, digest) {
            return Ok(Deleted::Kept { reason });
        }
        match self.oci.delete_manifest(repo, digest).await {
            Ok(Deleted::Unsupported { status, code })
                if code.as_deref() == Some(DISALLOWED) || status == 409 =>
            {
                Ok(Deleted::Kept {
                    reason: format!(
                        "locked on the registry (HTTP {status} {})",
                        code.unwrap_or_default()
                    )
                    .replace(" )", ")"),
                })
            }
            Ok(d) => Ok(d),
            Err(e) => Err(with_role(e, repo)),
        }
    });

    crate::registry::registry_call!(untag, self, |repo, tag, tag_delete_works| async move {
        if !self.classic.load(Ordering::Relaxed)
            && let Some(u) = self.untag_api(repo, tag).await?
        {
            return Ok((u, true));
        }
        untag::untag(self, repo, tag, tag_delete_works)
            .await
            .map_err(|e| with_role(e, repo))
    });
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const Acr: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "acr",
    title: "Azure Container Registry",
    help: "Azure Container Registry",
    aliases: &["azure", "azure-cr"],
    capabilities: |_, common| Capabilities {
        default_concurrency: 16,
        // `_manifests` lists the untagged manifests (asked only with `--delete-untagged`).
        lists_untagged: true,
        ..common
    },
    // Public cloud, Azure China and Azure US Government.
    hosts: &[HostPattern {
        regex: r"^[a-z0-9][a-z0-9-]*\.azurecr\.(io|cn|us)$",
        what: "an Azure Container Registry",
        example: "myregistry.azurecr.io",
    }],
    unprobed_prefix: None,
    // A realm alone, so only when no other implementation's proof held.
    probe: Probe {
        proof: &[],
        hint: &[Sign::Challenge(&["/oauth2/token"])],
        reason: "answers with ACR's /oauth2/token realm",
    },
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::Acr,
    open: |caps, oci, host, config| Box::pin(open(caps, oci, host, config)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn seven_fractional_digits() {
        let t = parse_time("2024-05-01T12:00:21.0856539Z").unwrap();
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_714_564_821);
        assert_eq!(d.subsec_nanos(), 85_653_900);
        assert!(parse_time("2024-05-01T12:00:21Z").is_some());
        assert!(parse_time("2024-05-01T12:00:21.123456789123Z").is_some());
        assert_eq!(parse_time("yesterday"), None);
        let _ = Duration::ZERO;
    }

    #[test]
    fn locks_block_deletes() {
        let a = |d, w| Attributes {
            delete_enabled: d,
            write_enabled: w,
        };
        assert_eq!(lock_reason(&a(Some(true), Some(true))), None);
        assert_eq!(lock_reason(&a(None, None)), None);
        assert!(
            lock_reason(&a(Some(false), Some(true)))
                .unwrap()
                .contains("deleteEnabled")
        );
        assert!(
            lock_reason(&a(Some(true), Some(false)))
                .unwrap()
                .contains("writeEnabled")
        );
    }

    #[test]
    fn authority_follows_the_cloud_unless_given() {
        assert_eq!(
            authority(None, "r.azurecr.io"),
            "https://login.microsoftonline.com"
        );
        assert_eq!(
            authority(None, "r.azurecr.cn"),
            "https://login.chinacloudapi.cn"
        );
        assert_eq!(
            authority(None, "r.azurecr.us"),
            "https://login.microsoftonline.us"
        );
        let given = Url::parse("http://127.0.0.1:9/aad/").unwrap();
        assert_eq!(
            authority(Some(&given), "r.azurecr.cn"),
            "http://127.0.0.1:9/aad"
        );
    }

    #[test]
    fn half_a_service_principal_is_an_input_error() {
        let mut v = VendorApis {
            azure_client_secret: Some(Secret::new("sp-secret-xyz")),
            ..Default::default()
        };
        let e = service_principal(&v).err().unwrap();
        assert_eq!(e.kind, Kind::Input);
        assert!(e.message.contains("AZURE_CLIENT_ID"), "{e}");
        assert!(e.message.contains("AZURE_TENANT_ID"), "{e}");
        v.azure_client_id = Some("id".into());
        v.azure_tenant_id = Some("t".into());
        assert!(service_principal(&v).unwrap().is_some());
        let no_secret = VendorApis {
            azure_client_id: Some("id".into()),
            ..Default::default()
        };
        assert!(service_principal(&no_secret).unwrap().is_none());
    }

    #[test]
    fn manifests_page_names_untagged_ones_with_times_and_locks() {
        let page: ManifestsPage = serde_json::from_str(
            r#"{"registry":"r.azurecr.io","imageName":"a/b","manifests":[
              {"digest":"sha256:aa","imageSize":10,"createdTime":"2024-05-01T12:00:21.0856539Z","lastUpdateTime":"2024-05-01T12:00:21.0856539Z","architecture":"amd64","os":"linux","mediaType":"application/vnd.oci.image.manifest.v1+json","tags":["v1"],"changeableAttributes":{"deleteEnabled":true,"writeEnabled":true}},
              {"digest":"sha256:bb","imageSize":10,"createdTime":"2024-05-01T12:00:21.0856539Z","lastUpdateTime":"2024-05-03T12:00:21Z","mediaType":"application/vnd.oci.image.manifest.v1+json","tags":[],"changeableAttributes":{"deleteEnabled":false,"writeEnabled":true}},
              {"digest":"sha256:cc","createdTime":"2024-05-01T12:00:21Z"}]}"#,
        )
        .unwrap();
        let m = page.manifests.unwrap();
        let untagged: Vec<&str> = m
            .iter()
            .filter(|m| m.untagged())
            .map(|m| m.digest.as_str())
            .collect();
        assert_eq!(untagged, ["sha256:bb", "sha256:cc"]);
        let bb = m[1].listed();
        assert_eq!(
            bb.pushed,
            parse_time("2024-05-03T12:00:21Z"),
            "the later time"
        );
        assert_eq!(
            bb.media_type.as_deref(),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert!(lock_reason(m[1].changeable_attributes.as_ref().unwrap()).is_some());
        assert_eq!(m[2].listed().media_type, None);
        assert!(m[2].listed().pushed.is_some());
    }

    #[test]
    fn tags_page_parses() {
        let page: TagsPage = serde_json::from_str(
            r#"{"registry":"r.azurecr.io","imageName":"a/b","tags":[{"name":"v1","digest":"sha256:aa","createdTime":"2024-05-01T12:00:21.0856539Z","lastUpdateTime":"2024-05-02T12:00:21.0856539Z","signed":false,"changeableAttributes":{"deleteEnabled":false,"writeEnabled":true,"readEnabled":true,"listEnabled":true}}]}"#,
        )
        .unwrap();
        let t = &page.tags.unwrap()[0];
        assert_eq!(t.name, "v1");
        assert!(lock_reason(t.changeable_attributes.as_ref().unwrap()).is_some());
    }
}
