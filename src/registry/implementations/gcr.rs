//! Google Container Registry and Artifact Registry
//! (docs/registries.md#google-gcr-and-artifact-registry).
//!
//! **Credentials**, first found wins: `--google-access-token` (Basic `oauth2accesstoken:<token>`
//! to the `/v2/token` realm), `--google-json-key FILE` / `GOOGLE_APPLICATION_CREDENTIALS` (Basic
//! `_json_key:<the file>`), else the registry credential (options or Docker config). They are
//! installed as the host's registry credential; the transport's challenge flow fetches tokens.
//!
//! **Inventory:** GCR's extended `tags/list` gives every manifest with its tags, media type and
//! times in one request; an untagged manifest is an entry with `tag: []` (`--delete-untagged`
//! judges it by `timeUploadedMs`). **Deletion:** a tag DELETE only untags; a digest DELETE is refused while
//! any tag names it (`GOOGLE_MANIFEST_DANGLING_TAG`), so a digest goes by untagging each of its
//! tags first. A child still in an index is refused (`GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE`):
//! the executor deletes parents before children, so that only happens for an index we keep. A
//! tag added after the listing makes the delete fail for that digest: the new tag stays.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde::Deserialize;
use url::Url;

use super::Registration;
use crate::error::{Error, Kind, Result};
use crate::implementation::{
    Capabilities, Depth, DigestDelete, HostPattern, Implementation, Probe, RepositoryListing, Spec,
    Untag,
};
use crate::registry::auth::Scope;
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo, fallback_tag, next_link};
use crate::registry::host::HostConfig;
use crate::registry::paging::Pages;
use crate::registry::transport::Request;
use crate::registry::untag::Untagged;
use crate::registry::{Listed, Listing, Registry};
use crate::secret::Secret;

const DANGLING_TAG: &str = "GOOGLE_MANIFEST_DANGLING_TAG";
const DANGLING_PARENT: &str = "GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE";

pub struct Gcr {
    caps: Capabilities,
    oci: Distribution,
    /// Artifact Registry (`<project>/<repository>/<image>`, repositories pre-created).
    artifact_registry: bool,
    /// repository → digest → its tags, as last listed and since changed by our untags.
    tags_of: Mutex<HashMap<String, HashMap<String, Vec<String>>>>,
    /// Artifact Registry repositories (`project/repository`) seen to exist.
    existing: Mutex<HashSet<String>>,
    /// (repository, digest) deleted by this run (a fallback index goes with its subject).
    gone: Mutex<HashSet<(String, String)>>,
}

/// Installs the Google credential and returns the registry object.
pub async fn open(
    caps: Capabilities,
    oci: Distribution,
    host: &str,
    config: &HostConfig,
) -> Result<Box<dyn Registry>> {
    let v = &config.vendor;
    if let Some(token) = &v.google_access_token {
        oci.transport().set_credential(
            host,
            Credential::Basic {
                username: "oauth2accesstoken".into(),
                password: token.clone(),
            },
        );
    } else if let Some(path) = &v.google_json_key {
        let key = read_json_key(path)?;
        oci.transport().set_credential(
            host,
            Credential::Basic {
                username: "_json_key".into(),
                password: key,
            },
        );
    }
    let artifact_registry = is_artifact_registry(host, &oci).await;
    Ok(Box::new(Gcr {
        caps,
        oci,
        artifact_registry,
        tags_of: Mutex::default(),
        existing: Mutex::default(),
        gone: Mutex::default(),
    }))
}

/// The service-account key file, checked to be a JSON object before anything is sent.
fn read_json_key(path: &std::path::Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input(format!("Google JSON key {}: {e}", path.display()))
            .with_hint("point --google-json-key (GOOGLE_APPLICATION_CREDENTIALS) at a service account key file")
    })?;
    let key = Secret::new(text.trim());
    let value: serde_json::Value = serde_json::from_str(key.expose()).map_err(|e| {
        Error::input(format!(
            "Google JSON key {} is not JSON: {e}",
            path.display()
        ))
    })?;
    if !value.is_object() {
        return Err(Error::input(format!(
            "Google JSON key {} is not a service account key (a JSON object)",
            path.display()
        )));
    }
    // The private key inside is a secret of its own when it shows up unescaped.
    if let Some(pk) = value.get("private_key").and_then(|v| v.as_str()) {
        crate::secret::register(pk);
    }
    Ok(key)
}

/// `*-docker.pkg.dev` by name; another host (a mirror, a test) when its anonymous `/v2/`
/// challenge has no `service`, as Artifact Registry's has not
/// (docs/registries.md#google-gcr-and-artifact-registry). gcr.io hosts are never: their
/// repositories are created on push.
async fn is_artifact_registry(host: &str, oci: &Distribution) -> bool {
    let name = crate::detect::host_name(host);
    if name.ends_with(".pkg.dev") {
        return true;
    }
    if name == "gcr.io" || name.ends_with(".gcr.io") || name == "container.cloud.google.com" {
        return false;
    }
    let Ok(ping) = oci.ping(host).await else {
        return false;
    };
    let challenge = ping
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::registry::auth::Challenge::parse);
    matches!(
        challenge,
        Some(crate::registry::auth::Challenge::Bearer { service: None, .. })
    )
}

/// One manifest of the extended `tags/list`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    tag: Vec<String>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    time_created_ms: Option<serde_json::Value>,
    #[serde(default)]
    time_uploaded_ms: Option<serde_json::Value>,
}

/// What the repository walk reads of an extended `tags/list`: whether the name holds images, and
/// the names below it (`child`).
#[derive(Debug, Deserialize)]
struct ChildList {
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    manifest: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    child: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct TagsList {
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    manifest: Option<BTreeMap<String, Entry>>,
}

/// Milliseconds as GCR (a string) or Artifact Registry (a number) writes them; 0 is no time.
pub fn millis(v: &serde_json::Value) -> Option<SystemTime> {
    let ms = match v {
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        serde_json::Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    (ms.is_finite() && ms > 0.0).then(|| UNIX_EPOCH + Duration::from_millis(ms as u64))
}

/// Reproducible builds set 1970 or 1980: a creation time before the first Docker release
/// (2013-03-20, as gcr-cleaner uses) says nothing.
fn plausible(t: SystemTime) -> bool {
    t > UNIX_EPOCH + Duration::from_secs(1_363_737_600)
}

impl Entry {
    fn pushed(&self) -> Option<SystemTime> {
        self.time_uploaded_ms.as_ref().and_then(millis).or_else(|| {
            self.time_created_ms
                .as_ref()
                .and_then(millis)
                .filter(|t| plausible(*t))
        })
    }
}

/// The listing of an extended `tags/list`'s `manifest` map, and each digest's tags. Every
/// manifest is in it: an untagged one (`tag: []`) is an untagged manifest of the listing.
fn listing_of(manifests: BTreeMap<String, Entry>) -> (Listing, HashMap<String, Vec<String>>) {
    let mut listing = Listing::default();
    let mut by_digest = HashMap::new();
    for (digest, e) in manifests {
        for t in &e.tag {
            listing.tags.insert(t.clone(), digest.clone());
        }
        listing.manifests.insert(
            digest.clone(),
            Listed {
                media_type: e.media_type.clone().filter(|m| !m.is_empty()),
                pushed: e.pushed(),
                ..Default::default()
            },
        );
        by_digest.insert(digest, e.tag);
    }
    (listing, by_digest)
}

/// The role that deleting needs on this kind of host.
fn delete_role(artifact_registry: bool) -> &'static str {
    if artifact_registry {
        "roles/artifactregistry.repoAdmin on the repository"
    } else {
        "roles/artifactregistry.repoAdmin (gcr.io repositories on Artifact Registry) or Storage Admin (roles/storage.admin) on the project's artifacts bucket (Container Registry)"
    }
}

fn read_role(artifact_registry: bool) -> &'static str {
    if artifact_registry {
        "roles/artifactregistry.reader on the repository"
    } else {
        "roles/artifactregistry.reader, or Storage Object Viewer on the artifacts bucket (Container Registry)"
    }
}

impl Gcr {
    fn with_role(&self, e: Error, repo: &Repo, action: &str) -> Error {
        if e.kind != Kind::Auth {
            return e;
        }
        let role = if action == "delete" {
            delete_role(self.artifact_registry)
        } else {
            read_role(self.artifact_registry)
        };
        e.with_hint(format!(
            "{action} on {repo} needs {role}; give a token or key of an identity that has it (--google-access-token, --google-json-key)"
        ))
    }

    /// The extended `tags/list`, following `Link` if the registry pages (it normally does not).
    async fn extended(&self, repo: &Repo) -> Result<Option<TagsList>> {
        let base = self.oci.transport().base_url(&repo.host).await?;
        let mut url = Url::parse(&format!("{base}v2/{}/tags/list", repo.name))
            .map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))?;
        let mut all = TagsList {
            tags: None,
            manifest: None,
        };
        let mut pages = Pages::new(format!("the tag list of {repo}"));
        loop {
            pages.visit_url(&url)?;
            let req = Request::new(Method::GET, url.clone())
                .scope(Scope::repository(&repo.name, &["pull"]));
            let resp = self.oci.transport().send(req).await?;
            let status = resp.status().as_u16();
            if status == 404 {
                return Ok(None);
            }
            if matches!(status, 401 | 403) {
                return Err(self.with_role(
                    Error::auth(format!(
                        "{} refused listing {repo} (HTTP {status})",
                        repo.host
                    )),
                    repo,
                    "listing",
                ));
            }
            let resp = crate::registry::distribution::check(resp, "list tags", &url).await?;
            let next = next_link(resp.headers(), &url);
            let page: TagsList = resp.json().await.map_err(|e| {
                Error::operation(format!("{repo}: the tags/list reply is not JSON: {e}"))
            })?;
            if let Some(t) = page.tags {
                all.tags.get_or_insert_with(Vec::new).extend(t);
            }
            if let Some(m) = page.manifest {
                all.manifest.get_or_insert_with(BTreeMap::new).extend(m);
            }
            match next {
                Some(n) => url = n,
                None => return Ok(Some(all)),
            }
        }
    }

    async fn list(&self, repo: &Repo) -> Result<Option<Listing>> {
        let Some(list) = self.extended(repo).await? else {
            self.remember(repo, HashMap::new());
            return Ok(Some(Listing::default()));
        };
        // A registry without the extended fields: the OCI way.
        let Some(manifests) = list.manifest else {
            return Ok(None);
        };
        let (listing, by_digest) = listing_of(manifests);
        self.remember(repo, by_digest);
        Ok(Some(listing))
    }

    fn remember(&self, repo: &Repo, by_digest: HashMap<String, Vec<String>>) {
        self.tags_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.name.clone(), by_digest);
    }

    /// The tags on a digest: from the last listing, else from a fresh one.
    async fn tags_on(&self, repo: &Repo, digest: &str, fresh: bool) -> Result<Vec<String>> {
        let known = (!fresh)
            .then(|| {
                self.tags_of
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&repo.name)
                    .map(|m| m.get(digest).cloned().unwrap_or_default())
            })
            .flatten();
        if let Some(t) = known {
            return Ok(t);
        }
        self.list(repo).await?;
        Ok(self
            .tags_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&repo.name)
            .and_then(|m| m.get(digest).cloned())
            .unwrap_or_default())
    }

    fn forget_tag(&self, repo: &Repo, tag: &str) {
        if let Some(m) = self
            .tags_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&repo.name)
        {
            for tags in m.values_mut() {
                tags.retain(|t| t != tag);
            }
        }
    }

    /// `DELETE /v2/<n>/manifests/<tag>`: removes the tag only.
    async fn untag_one(&self, repo: &Repo, tag: &str) -> Result<Untagged> {
        let d = self
            .oci
            .delete_manifest(repo, tag)
            .await
            .map_err(|e| self.with_role(e, repo, "delete"))?;
        let u = match d {
            Deleted::Done => Untagged::Native,
            Deleted::NotFound => Untagged::Absent,
            Deleted::Kept { reason } => Untagged::Kept(reason),
            Deleted::Unsupported { status, code } => {
                return Err(Error::unsupported(format!(
                    "{} refused removing tag {repo}:{tag} (HTTP {status}{})",
                    repo.host,
                    code.map(|c| format!(" {c}")).unwrap_or_default()
                )));
            }
        };
        self.forget_tag(repo, tag);
        Ok(u)
    }

    /// Untags every tag listed on `digest`, then deletes it.
    async fn delete_untagged(&self, repo: &Repo, digest: &str) -> Result<Deleted> {
        let key = (repo.name.clone(), digest.to_string());
        if self
            .gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return Ok(Deleted::Done);
        }
        for tag in self.tags_on(repo, digest, false).await? {
            if let Untagged::Kept(reason) = self.untag_one(repo, &tag).await? {
                return Ok(Deleted::Kept { reason });
            }
        }
        let d = self
            .oci
            .delete_manifest(repo, digest)
            .await
            .map_err(|e| self.with_role(e, repo, "delete"))?;
        match d {
            // Tagged since it was listed: those tags were not judged, so they stay (a re-run
            // judges them). Deleting them here would remove what someone just pushed.
            Deleted::Unsupported { code, .. } if code.as_deref() == Some(DANGLING_TAG) => {
                let now = self.tags_on(repo, digest, true).await?;
                Err(Error::operation(format!(
                    "{repo}@{digest} was tagged again after it was listed ({}); it stays ({DANGLING_TAG})",
                    now.join(", ")
                ))
                .with_hint("run the cleanup again to judge the new tags"))
            }
            Deleted::Unsupported { code, .. } if code.as_deref() == Some(DANGLING_PARENT) => {
                Ok(Deleted::Kept {
                    reason: format!(
                        "an image index that stays still references it ({DANGLING_PARENT})"
                    ),
                })
            }
            other => {
                if matches!(other, Deleted::Done | Deleted::NotFound) {
                    if let Some(m) = self
                        .tags_of
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&repo.name)
                    {
                        m.remove(digest);
                    }
                    self.gone
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key.clone());
                    self.drop_fallback_index(repo, digest).await;
                }
                Ok(other)
            }
        }
    }

    /// The referrers fallback index of a deleted manifest (tag `sha256-<hex>`) lists its
    /// referrers, and GCR refuses to delete a manifest an index still lists
    /// (`GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE`): it goes right after its subject, so that the
    /// referrers (deleted next, as dependents) are free. Without its subject it is garbage; the
    /// plan deletes it too, and then finds it gone. A failure here is left to that step.
    async fn drop_fallback_index(&self, repo: &Repo, subject: &str) {
        let tag = fallback_tag(subject);
        let index = self
            .tags_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&repo.name)
            .and_then(|m| {
                m.iter()
                    .find(|(_, tags)| tags.contains(&tag))
                    .map(|(d, _)| d.clone())
            });
        let Some(index) = index else { return };
        if let Err(e) = Box::pin(self.delete_untagged(repo, &index)).await {
            crate::log::debug(&format!(
                "{repo}: the fallback index {tag} of deleted {subject} stays for now: {e}"
            ));
        }
    }

    /// Artifact Registry: `<project>/<repository>` must exist before a push (it is never
    /// created on push). Its own `tags/list` answers 404 when it does not.
    async fn check_repository(&self, repo: &Repo) -> Result<()> {
        let parts: Vec<&str> = repo.name.split('/').collect();
        if parts.len() < 3 {
            return Err(Error::input(format!(
                "{repo}: Artifact Registry images are HOST/PROJECT/REPOSITORY/IMAGE"
            )));
        }
        let ar_repo = format!("{}/{}", parts[0], parts[1]);
        if self
            .existing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&ar_repo)
        {
            return Ok(());
        }
        let root = Repo::new(repo.host.clone(), ar_repo.clone());
        let found = self.extended(&root).await.map_err(|e| {
            if e.kind == Kind::Auth {
                e.with_hint(format!(
                    "publishing to {repo} needs roles/artifactregistry.writer on the repository"
                ))
            } else {
                e
            }
        })?;
        if found.is_none() {
            let location = crate::detect::host_name(&repo.host)
                .strip_suffix("-docker.pkg.dev")
                .unwrap_or("LOCATION")
                .to_string();
            return Err(Error::input(format!(
                "the Artifact Registry repository {ar_repo:?} does not exist on {}",
                repo.host
            ))
            .with_hint(format!(
                "create it first: gcloud artifacts repositories create {} --repository-format=docker --location={location} --project={}",
                parts[1], parts[0]
            )));
        }
        self.existing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ar_repo);
        Ok(())
    }
}

impl Gcr {
    /// One step of the repository walk: whether `name` holds images and its children, from the
    /// extended `tags/list` (the walk go-containerregistry's `google.Walk` does); `None` for 404.
    async fn node(&self, host: &str, name: &str) -> Result<Option<(bool, Vec<String>)>> {
        let repo = Repo::new(host, name);
        let base = self.oci.transport().base_url(host).await?;
        let url = Url::parse(&format!("{base}v2/{name}/tags/list"))
            .map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))?;
        let req = Request::new(Method::GET, url.clone()).scope(Scope::repository(name, &["pull"]));
        let resp = self.oci.transport().send(req).await?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if matches!(status, 401 | 403) {
            return Err(self.with_role(
                Error::auth(format!("{host} refused listing {repo} (HTTP {status})")),
                &repo,
                "listing",
            ));
        }
        let resp = crate::registry::distribution::check(resp, "list tags", &url).await?;
        let list: ChildList = resp.json().await.map_err(|e| {
            Error::operation(format!("{repo}: the tags/list reply is not JSON: {e}"))
        })?;
        let images = list.tags.is_some_and(|t| !t.is_empty())
            || list.manifest.is_some_and(|m| !m.is_empty());
        Ok(Some((images, list.child.unwrap_or_default())))
    }

    /// Every repository at or under `under`, walking `child` lists breadth first.
    async fn walk(&self, host: &str, under: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([under.trim_matches('/').to_string()]);
        let mut pages = Pages::new(format!("the repository tree of {host}/{under}"));
        while let Some(name) = queue.pop_front() {
            pages.visit(&name)?;
            let Some((images, children)) = self.node(host, &name).await? else {
                continue;
            };
            if images {
                out.push(name.clone());
            }
            queue.extend(children.into_iter().map(|c| format!("{name}/{c}")));
        }
        Ok(crate::registry::repositories_under(out, under))
    }
}

impl Registry for Gcr {
    crate::registry::registry_accessors!();

    // The extended tags/list names the repositories below each name (`child`): walked from the
    // images repo (gcr.io/PROJECT, or HOST/PROJECT/REPOSITORY on Artifact Registry).
    crate::registry::registry_call!(repositories, self, |host, under| async move {
        if under.is_empty() {
            return Err(Error::input(
                "--all-repositories on Google's registries needs the project in the images repo",
            )
            .with_hint("use --images-repo gcr.io/PROJECT or HOST/PROJECT/REPOSITORY"));
        }
        self.walk(host, under).await
    });

    crate::registry::registry_call!(listing, self, |repo, _timed| self.list(repo));

    crate::registry::registry_call!(ensure_repository, self, |repo| async move {
        if self.artifact_registry {
            self.check_repository(repo).await
        } else {
            Ok(())
        }
    });

    crate::registry::registry_call!(delete_digest, self, |repo, digest| self
        .delete_untagged(repo, digest));

    crate::registry::registry_call!(untag, self, |repo, tag, _tag_delete_works| async move {
        Ok((self.untag_one(repo, tag).await?, true))
    });
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const Gcr: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "gcr",
    title: "Google Container Registry / Artifact Registry",
    help: "Google Container Registry / Artifact Registry",
    aliases: &["gar", "artifact-registry", "google"],
    capabilities: |host, common| {
        if host.ends_with(".pkg.dev") {
            Capabilities {
                // host/project/repository/image: the Artifact Registry repository must exist.
                depth: Depth { min: 3, max: None },
                // The extended tags/list names untagged manifests (`tag: []`).
                lists_untagged: true,
                untag: Untag::OciTagDeleteOrSafeUntag,
                digest_delete: DigestDelete::RefusedWhileTagged,
                repository_listing: RepositoryListing::VendorApi,
                ..common
            }
        } else {
            Capabilities {
                depth: Depth { min: 2, max: None },
                lists_untagged: true,
                untag: Untag::OciTagDeleteOrSafeUntag,
                digest_delete: DigestDelete::RefusedWhileTagged,
                referrers_fallback_only: true,
                repository_listing: RepositoryListing::VendorApi,
                ..common
            }
        }
    },
    hosts: &[
        HostPattern {
            regex: r"^([a-z0-9-]+\.)?gcr\.io$",
            what: "Google Container Registry",
            example: "eu.gcr.io",
        },
        HostPattern {
            regex: r"^container\.cloud\.google\.com$",
            what: "Google Container Registry (legacy host)",
            example: "container.cloud.google.com",
        },
        HostPattern {
            regex: r"^[a-z0-9-]+-docker\.pkg\.dev$",
            what: "Google Artifact Registry",
            example: "europe-west1-docker.pkg.dev",
        },
    ],
    unprobed_prefix: None,
    probe: Probe::NONE,
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::Gcr,
    open: |caps, oci, host, config| Box::pin(open(caps, oci, host, config)),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_strings_or_numbers() {
        let ms = 1_714_564_821_085u64;
        let want = UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(millis(&serde_json::json!(ms.to_string())), Some(want));
        assert_eq!(millis(&serde_json::json!(ms)), Some(want));
        assert_eq!(millis(&serde_json::json!("0")), None);
        assert_eq!(millis(&serde_json::json!("soon")), None);
        assert_eq!(millis(&serde_json::json!(null)), None);
    }

    #[test]
    fn uploaded_wins_and_1970_is_no_time() {
        let e: Entry = serde_json::from_value(serde_json::json!({
            "imageSizeBytes": "1234", "layerId": "", "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "tag": ["a", "b"], "timeCreatedMs": "0", "timeUploadedMs": 1714564821085u64
        }))
        .unwrap();
        assert_eq!(
            e.pushed(),
            Some(UNIX_EPOCH + Duration::from_millis(1_714_564_821_085))
        );
        let created_only: Entry =
            serde_json::from_value(serde_json::json!({"tag": [], "timeCreatedMs": "315532800000"}))
                .unwrap();
        assert_eq!(created_only.pushed(), None, "1980 says nothing");
        let created_only: Entry = serde_json::from_value(
            serde_json::json!({"tag": [], "timeCreatedMs": "1714564821085"}),
        )
        .unwrap();
        assert!(created_only.pushed().is_some());
    }

    #[test]
    fn extended_list_parses() {
        let l: TagsList = serde_json::from_str(
            r#"{"child":["sub"],"manifest":{"sha256:aa":{"imageSizeBytes":"1","mediaType":"m","tag":["v1"],"timeCreatedMs":"1","timeUploadedMs":"1714564821085"}},"name":"p/app","tags":["v1"]}"#,
        )
        .unwrap();
        assert_eq!(l.manifest.unwrap()["sha256:aa"].tag, vec!["v1"]);
        let plain: TagsList = serde_json::from_str(r#"{"name":"p/app","tags":null}"#).unwrap();
        assert!(plain.manifest.is_none());
    }

    #[test]
    fn untagged_manifests_are_listed_with_their_upload_time() {
        let l: TagsList = serde_json::from_str(
            r#"{"manifest":{
              "sha256:aa":{"imageSizeBytes":"1","layerId":"","mediaType":"application/vnd.oci.image.manifest.v1+json","tag":["v1"],"timeCreatedMs":"0","timeUploadedMs":"1714564821085"},
              "sha256:bb":{"imageSizeBytes":"1","layerId":"","mediaType":"application/vnd.oci.image.index.v1+json","tag":[],"timeCreatedMs":"0","timeUploadedMs":1714000000000}},
              "name":"p/app","tags":["v1"]}"#,
        )
        .unwrap();
        let (listing, by_digest) = listing_of(l.manifest.unwrap());
        let untagged: Vec<(&String, &Listed)> = listing.untagged().collect();
        assert_eq!(untagged.len(), 1);
        assert_eq!(untagged[0].0, "sha256:bb");
        assert_eq!(
            untagged[0].1.pushed,
            Some(UNIX_EPOCH + Duration::from_millis(1_714_000_000_000))
        );
        assert_eq!(
            untagged[0].1.media_type.as_deref(),
            Some("application/vnd.oci.image.index.v1+json")
        );
        assert!(by_digest["sha256:bb"].is_empty());
    }

    #[test]
    fn json_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("key.json");
        std::fs::write(
            &good,
            r#"{"type":"service_account","client_email":"ci@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nabc-key-material\n-----END PRIVATE KEY-----\n"}"#,
        )
        .unwrap();
        assert!(
            read_json_key(&good)
                .unwrap()
                .expose()
                .contains("service_account")
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "not json").unwrap();
        assert_eq!(read_json_key(&bad).unwrap_err().kind, Kind::Input);
        assert_eq!(
            read_json_key(&dir.path().join("missing.json"))
                .unwrap_err()
                .kind,
            Kind::Input
        );
    }
}
