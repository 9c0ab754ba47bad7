//! Harbor v2.x (docs/registries.md#harbor; API definition:
//! https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml): the Harbor REST API on
//! the registry host
//! (`<scheme>://<host>/api/v2.0`) lists artifacts with their tags and push times, removes one tag
//! (`DELETE …/artifacts/{ref}/tags/{tag}` → 200) and whole artifacts
//! (`DELETE …/artifacts/{digest}` → 200, every tag with it). The registry side refuses tag
//! DELETE (405), and robot accounts could not delete through it (werf#5651), so every deletion
//! goes through the REST API.
//!
//! Authentication is HTTP Basic as a user or a robot (`robot$name`, `robot$project+name`), from
//! `--harbor-username`/`--harbor-password`, else the registry credentials. No cookies are kept, so
//! Harbor's CSRF check (UI sessions only) never applies.
//!
//! Paths: the project is the first component of the repository; the rest is URL-encoded twice
//! (`team/app` → `team%252Fapp`), as Harbor requires; single encoding answers 404.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::SystemTime;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::Registration;
use crate::error::{Error, Result};
use crate::implementation::{
    Capabilities, Depth, HostPattern, Implementation, NamePrefix, Probe, PullRecords,
    RepositoryListing, Sign, Spec,
};
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo, next_link};
use crate::registry::host::HostConfig;
use crate::registry::paging::Pages;
use crate::registry::rest::{OciError, encode_segment};
use crate::registry::transport::Request;
use crate::registry::untag::Untagged;
use crate::registry::{Listed, Listing, Pulled, Registry};
use crate::secret::{Secret, redact_url};

/// Largest page the artifacts API serves (Harbor's API: `page_size` ≤ 100).
const PAGE_SIZE: usize = 100;

/// The permission a failed call needs, for exit-3 messages.
const DELETE_PERMISSION: &str = "the Maintainer or Project Admin role in the project, or a robot account with \
     the \"delete artifact\" (and \"list artifact\") permission";

pub struct Harbor {
    caps: Capabilities,
    oci: Distribution,
    host: String,
    /// Basic credentials for the REST API, when any are known.
    login: Option<(String, Secret)>,
    /// Where the login came from (named in auth errors).
    login_source: &'static str,
    /// Projects already seen to exist (publish checks each once).
    projects: Mutex<HashSet<String>>,
}

impl Harbor {
    /// `host` is the registry host, which also serves the REST API.
    pub async fn open(
        caps: Capabilities,
        oci: Distribution,
        host: &str,
        config: &HostConfig,
    ) -> Result<Harbor> {
        let v = &config.vendor;
        let (login, login_source) = match (&v.harbor_username, &v.harbor_password) {
            (Some(u), Some(p)) => {
                // The same account logs in to the registry when nothing else is configured.
                if oci.transport().credential(host).await?.is_none() {
                    oci.transport()
                        .set_credential(host, Credential::basic(u.clone(), p.expose()));
                }
                (Some((u.clone(), p.clone())), "--harbor-username")
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(
                    Error::input("--harbor-username and --harbor-password go together")
                        .with_hint("give both, or neither to use the registry credentials"),
                );
            }
            (None, None) => match oci.transport().credential(host).await? {
                Some(Credential::Basic { username, password }) => {
                    (Some((username, password)), "the registry credentials")
                }
                _ => (None, "no credentials"),
            },
        };
        Ok(Harbor {
            caps,
            oci,
            host: host.to_string(),
            login,
            login_source,
            projects: Mutex::new(HashSet::new()),
        })
    }

    /// `<base>/api/v2.0/` on the registry host (plain HTTP where the registry is plain HTTP).
    async fn api(&self) -> Result<Url> {
        let base = self.oci.transport().base_url(&self.host).await?;
        base.join("api/v2.0/")
            .map_err(|e| Error::input(format!("Harbor API address for {}: {e}", self.host)))
    }

    /// `projects/{p}/repositories/{r}/artifacts` plus `tail`, `{r}` encoded twice.
    async fn artifacts_url(&self, repo: &Repo, tail: &str) -> Result<Url> {
        let (project, rest) = split(repo)?;
        let s = format!(
            "{}projects/{}/repositories/{}/artifacts{tail}",
            self.api().await?,
            encode_segment(project),
            encode_twice(rest)
        );
        Url::parse(&s).map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))
    }

    async fn send(&self, method: Method, url: Url) -> Result<reqwest::Response> {
        let mut req = Request::new(method, url);
        req.registry_auth = false;
        if let Some((user, pass)) = &self.login {
            req.headers.insert(AUTHORIZATION, basic(user, pass)?);
        }
        req.headers
            .insert("accept", HeaderValue::from_static("application/json"));
        self.oci.transport().send(req).await
    }

    /// The error for a refused or failed call (401/403 → exit 3 naming the permission).
    async fn fail(&self, resp: reqwest::Response, what: &str, url: &Url, needs: &str) -> Error {
        let status = resp.status().as_u16();
        let (code, message) = harbor_error(resp).await;
        let detail = match (code.as_deref(), message.as_deref()) {
            (Some(c), Some(m)) => format!(" {c}: {m}"),
            (Some(c), None) => format!(" {c}"),
            (None, Some(m)) => format!(": {m}"),
            (None, None) => String::new(),
        };
        let url = redact_url(url);
        match status {
            401 => Error::auth(format!(
                "Harbor did not accept the credentials ({}) to {what} ({url}: HTTP 401{detail})",
                self.login_source
            ))
            .with_hint(
                "give a Harbor user or robot account (robot$name or robot$project+name) with \
                 --harbor-username/--harbor-password, or registry credentials",
            ),
            403 => Error::auth(format!(
                "Harbor refused to {what} ({url}: HTTP 403{detail}): the account needs {needs}"
            ))
            .with_hint(
                "grant the role or robot permission in the Harbor project, or use another account",
            ),
            _ => Error::operation(format!(
                "Harbor API: cannot {what} ({url}: HTTP {status}{detail})"
            )),
        }
    }

    /// One DELETE through the REST API, with Harbor's refusals told apart.
    async fn delete(&self, url: Url, what: &str) -> Result<Deleted> {
        let resp = self.send(Method::DELETE, url.clone()).await?;
        match resp.status() {
            s if s.is_success() => Ok(Deleted::Done),
            StatusCode::NOT_FOUND => Ok(Deleted::NotFound),
            StatusCode::PRECONDITION_FAILED | StatusCode::FORBIDDEN => {
                let status = resp.status();
                let (code, message) = harbor_error(resp).await;
                let m = message.clone().unwrap_or_default();
                if let Some(reason) = kept_reason(status.as_u16(), code.as_deref(), &m) {
                    return Ok(Deleted::Kept { reason });
                }
                if status == StatusCode::FORBIDDEN {
                    let detail = code.map(|c| format!(" {c}: {m}")).unwrap_or_default();
                    return Err(Error::auth(format!(
                        "Harbor refused to {what} ({}: HTTP 403{detail}): the account needs {DELETE_PERMISSION}",
                        redact_url(&url)
                    ))
                    .with_hint("grant the role or robot permission in the Harbor project, or use another account"));
                }
                Err(Error::operation(format!(
                    "Harbor API: cannot {what} ({}: HTTP 412 {}: {m})",
                    redact_url(&url),
                    code.unwrap_or_default()
                )))
            }
            _ => Err(self.fail(resp, what, &url, DELETE_PERMISSION).await),
        }
    }

    /// Every top-level artifact of a repository, tagged or not, all pages.
    async fn artifacts(&self, repo: &Repo) -> Result<Vec<Artifact>> {
        // No `q=tags=*` filter: the untagged artifacts are listed too (`--delete-untagged`).
        // Index children and signatures are not top-level artifacts; they are found through
        // their index and the referrers API.
        let page_url = |page: usize| async move {
            self.artifacts_url(
                repo,
                &format!("?with_tag=true&page_size={PAGE_SIZE}&page={page}"),
            )
            .await
        };
        let listed = self
            .walk(
                &page_url,
                &format!("the Harbor artifact list of {repo}"),
                &format!("list the artifacts of {repo}"),
                "the \"list artifact\" permission (any project member role, or a robot with it)",
            )
            .await?;
        // No such repository (yet): nothing to list. A missing project is the same.
        Ok(listed.unwrap_or_default())
    }

    /// The repositories of a project (`GET /projects/{p}/repositories`); Harbor names them with
    /// the project (`p/team/app`).
    async fn project_repositories(&self, project: &str) -> Result<Vec<String>> {
        let page_url = |page: usize| async move {
            let s = format!(
                "{}projects/{}/repositories?page_size={PAGE_SIZE}&page={page}",
                self.api().await?,
                encode_segment(project)
            );
            Url::parse(&s).map_err(|e| Error::input(format!("invalid project {project:?}: {e}")))
        };
        let listed: Option<Vec<HarborRepository>> = self
            .walk(
                &page_url,
                &format!("the Harbor repository list of project {project}"),
                &format!("list the repositories of project {project}"),
                "the \"list repository\" permission (any project member role, or a robot with it)",
            )
            .await?;
        match listed {
            Some(repositories) => Ok(repositories.into_iter().map(|r| r.name).collect()),
            None => Err(Error::input(format!(
                "Harbor project {project:?} does not exist on {}",
                self.host
            ))
            .with_hint("the first component of the images repo is the Harbor project")),
        }
    }

    /// All pages of a Harbor list (`page_url(1)` first): the next page by `Link`, else by
    /// `X-Total-Count` while pages are not empty. `None` when the first answer is 404.
    /// `label` names the list in paging errors, `what` the action and `permission` what the
    /// account needs in refusals.
    async fn walk<T, F, Fut>(
        &self,
        page_url: &F,
        label: &str,
        what: &str,
        permission: &str,
    ) -> Result<Option<Vec<T>>>
    where
        T: serde::de::DeserializeOwned,
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<Url>>,
    {
        let mut url = page_url(1).await?;
        let mut all: Vec<T> = Vec::new();
        let mut pages = Pages::new(label.to_string());
        let mut page = 1;
        loop {
            pages.visit_url(&url)?;
            let resp = self.send(Method::GET, url.clone()).await?;
            if resp.status() == StatusCode::NOT_FOUND && page == 1 {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(self.fail(resp, what, &url, permission).await);
            }
            let total: Option<usize> = resp
                .headers()
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let next = next_link(resp.headers(), &url);
            let items: Vec<T> = resp
                .json()
                .await
                .map_err(|e| Error::operation(format!("{label} is not valid JSON: {e}")))?;
            let empty = items.is_empty();
            all.extend(items);
            match next {
                Some(n) if n != url => {
                    page += 1;
                    url = n;
                }
                // No Link: the total count says whether another page exists.
                _ if total.is_some_and(|t| all.len() < t) && !empty => {
                    page += 1;
                    url = page_url(page).await?;
                }
                _ => return Ok(Some(all)),
            }
        }
    }

    async fn ensure_project(&self, repo: &Repo) -> Result<()> {
        let (project, _) = split(repo)?;
        if self
            .projects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(project)
        {
            return Ok(());
        }
        let url = self
            .api()
            .await?
            .join(&format!("projects/{}", encode_segment(project)))
            .map_err(|e| Error::input(format!("invalid project {project:?}: {e}")))?;
        let mut req = Request::new(Method::GET, url.clone());
        req.registry_auth = false;
        if let Some((user, pass)) = &self.login {
            req.headers.insert(AUTHORIZATION, basic(user, pass)?);
        }
        // The project is named, never an id, even when its name is all digits.
        req.headers
            .insert("x-is-resource-name", HeaderValue::from_static("true"));
        let resp = self.oci.transport().send(req).await?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => {
                // Exit 2: the images repo names a project that does not exist. dockhand does not
                // create projects: that needs a Harbor admin and sets quotas and visibility.
                return Err(Error::input(format!(
                    "Harbor project {project:?} does not exist on {} (images repo {repo})",
                    self.host
                ))
                .with_hint(format!(
                    "create the project {project:?} in Harbor (Projects → New Project), or fix the \
                     images repo: its first component is the Harbor project"
                )));
            }
            _ => {
                return Err(self
                    .fail(
                        resp,
                        &format!("read project {project:?}"),
                        &url,
                        "membership of the project (Developer or above to push), or a robot \
                         account of the project",
                    )
                    .await);
            }
        }
        self.projects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(project.to_string());
        Ok(())
    }
}

impl Registry for Harbor {
    crate::registry::registry_accessors!();

    crate::registry::registry_call!(ensure_repository, self, |repo| self.ensure_project(repo));

    crate::registry::registry_call!(listing, self, |repo, _timed| async move {
        Ok(Some(to_listing(self.artifacts(repo).await?)))
    });

    // Every repository of the project (the first path component) under `under`.
    crate::registry::registry_call!(repositories, self, |_host, under| async move {
        let project = under.split('/').next().unwrap_or_default();
        if project.is_empty() {
            return Err(Error::input(
                "--all-repositories on Harbor needs the project in the images repo",
            )
            .with_hint("use --images-repo HOST/PROJECT (or HOST/PROJECT/PREFIX)"));
        }
        let names = self.project_repositories(project).await?;
        Ok(crate::registry::repositories_under(names, under))
    });

    crate::registry::registry_call!(delete_digest, self, |repo, digest| async move {
        let url = self
            .artifacts_url(repo, &format!("/{}", encode_segment(digest)))
            .await?;
        self.delete(url, &format!("delete {repo}@{digest}")).await
    });

    crate::registry::registry_call!(untag, self, |repo, tag, _tag_delete_works| async move {
        // The tag itself names the artifact: no lookup of its digest first.
        let url = self
            .artifacts_url(
                repo,
                &format!("/{}/tags/{}", encode_segment(tag), encode_segment(tag)),
            )
            .await?;
        let u = match self
            .delete(url, &format!("delete tag {repo}:{tag}"))
            .await?
        {
            Deleted::Done => Untagged::Native,
            Deleted::NotFound => Untagged::Absent,
            Deleted::Kept { reason } => Untagged::Kept(reason),
            Deleted::Unsupported { status, code } => {
                return Err(Error::operation(format!(
                    "Harbor refused to delete tag {repo}:{tag} (HTTP {status}{})",
                    code.map(|c| format!(" {c}")).unwrap_or_default()
                )));
            }
        };
        Ok((u, true))
    });
}

/// One artifact of the list (fields as in docs/registries.md#harbor).
#[derive(Debug, Deserialize)]
struct Artifact {
    digest: String,
    /// The manifest's media type (`media_type` is the config's).
    #[serde(default)]
    manifest_media_type: Option<String>,
    #[serde(default)]
    push_time: Option<String>,
    /// The last pull; Harbor writes the zero time for "never".
    #[serde(default)]
    pull_time: Option<String>,
    #[serde(default)]
    tags: Option<Vec<ArtifactTag>>,
}

#[derive(Debug, Deserialize)]
struct ArtifactTag {
    name: String,
    #[serde(default)]
    push_time: Option<String>,
}

fn to_listing(artifacts: Vec<Artifact>) -> Listing {
    let mut listing = Listing::default();
    for a in artifacts {
        let tags = a.tags.unwrap_or_default();
        // The newest push of the digest or any of its tags: an age rule then never deletes
        // something that was pushed again recently.
        let pushed = std::iter::once(a.push_time.as_deref())
            .chain(tags.iter().map(|t| t.push_time.as_deref()))
            .flatten()
            .filter_map(parse_time)
            .max();
        for t in tags {
            listing.tags.insert(t.name, a.digest.clone());
        }
        listing.manifests.insert(
            a.digest,
            Listed {
                media_type: a.manifest_media_type.filter(|m| !m.is_empty()),
                pushed,
                // Harbor records pulls: a missing or zero time is "never pulled".
                pulled: a
                    .pull_time
                    .as_deref()
                    .and_then(parse_time)
                    .map_or(Pulled::Never, Pulled::At),
            },
        );
    }
    listing
}

/// Harbor writes RFC 3339 times (`2024-05-01T12:00:00.000Z`); the zero time means "never".
fn parse_time(s: &str) -> Option<SystemTime> {
    let t = crate::registry::rest::parse_time(s)?;
    (t > SystemTime::UNIX_EPOCH).then_some(t)
}

/// Why Harbor keeps something on purpose, if this refusal says so. Immutability rules answer
/// 412 `PRECONDITION` "the tag … configured as immutable, cannot be deleted", and a signed tag
/// 412 "… with signature cannot be deleted" (Harbor's tag controller); a 403 counts only when it
/// names immutability (some versions and proxies), otherwise it is a permission problem.
fn kept_reason(status: u16, code: Option<&str>, message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let immutable = lower.contains("immutable");
    if !(status == 412 || (status == 403 && immutable)) {
        return None;
    }
    let why = if immutable {
        "Harbor tag immutability rule"
    } else if lower.contains("signature") {
        "Harbor keeps signed tags"
    } else {
        "Harbor precondition"
    };
    let detail = if message.is_empty() {
        code.unwrap_or("PRECONDITION")
    } else {
        message
    };
    Some(format!("{why}: {detail}"))
}

/// `{"errors":[{"code","message"}]}` → (code, message).
async fn harbor_error(resp: reqwest::Response) -> (Option<String>, Option<String>) {
    let text = resp.text().await.unwrap_or_default();
    match OciError::first(&text) {
        Some(i) => (i.code, i.message),
        None if text.trim().is_empty() => (None, None),
        None => (None, Some(crate::registry::rest::excerpt(&text))),
    }
}

/// One entry of a project's repository list: Harbor's `name` includes the project.
#[derive(Debug, Deserialize)]
struct HarborRepository {
    name: String,
}

/// `project/rest` of a repository; Harbor has no repositories outside a project.
fn split(repo: &Repo) -> Result<(&str, &str)> {
    match repo.name.split_once('/') {
        Some((p, r)) if !p.is_empty() && !r.is_empty() => Ok((p, r)),
        _ => Err(Error::input(format!(
            "{repo}: a Harbor repository is PROJECT/NAME, and {:?} has no project part",
            repo.name
        ))
        .with_hint("put the Harbor project first in the images repo (HOST/PROJECT[/…])")),
    }
}

/// Harbor decodes the repository segment twice: `a/b` → `a%2Fb` → `a%252Fb`.
fn encode_twice(s: &str) -> String {
    encode_segment(&encode_segment(s))
}

fn basic(user: &str, pass: &Secret) -> Result<HeaderValue> {
    // `robot$…` goes through unchanged: Basic encodes bytes, `$` included.
    crate::registry::transport::basic_value(user, pass.expose())
        .ok_or_else(|| Error::input("Harbor credentials hold characters not allowed in a header"))
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const Harbor: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "harbor",
    title: "Harbor",
    help: "Harbor",
    aliases: &[],
    capabilities: |_, common| Capabilities {
        depth: Depth { min: 2, max: None },
        get_counts_as_pull: true,
        // The artifact list holds untagged artifacts and each one's `pull_time`.
        lists_untagged: true,
        pull_records: PullRecords::PerPull,
        repository_listing: RepositoryListing::VendorApi,
        ..common
    },
    hosts: &[HostPattern {
        regex: r"^demo\.goharbor\.io$",
        what: "Harbor's demo instance",
        example: "demo.goharbor.io",
    }],
    // werf's `harborPatterns`, `^harbor\..*`, in `pkg/docker_registry/harbor.go`: werf users'
    // `harbor.<domain>` hosts keep working without a probe.
    unprobed_prefix: Some(NamePrefix {
        prefix: "harbor.",
        why: "werf's hint for Harbor",
    }),
    probe: Probe {
        proof: &[Sign::Confirmed {
            realm_any: &["/service/token", "realm=\"harbor\""],
            path: "api/v2.0/systeminfo",
            check: |v| v.get("auth_mode").is_some(),
        }],
        hint: &[],
        reason: "serves Harbor's /api/v2.0/systeminfo",
    },
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::Harbor,
    open: |caps, oci, host, config| {
        Box::pin(async move {
            Ok(Box::new(Harbor::open(caps, oci, host, config).await?) as Box<dyn Registry>)
        })
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_is_encoded_twice() {
        assert_eq!(encode_twice("team/app"), "team%252Fapp");
        assert_eq!(encode_twice("app"), "app");
        assert_eq!(encode_twice("a/b/c"), "a%252Fb%252Fc");
        assert_eq!(encode_segment("sha256:ab"), "sha256:ab");
        assert_eq!(encode_segment("a b"), "a%20b");
        let r = Repo::new("h", "project/team/app");
        assert_eq!(split(&r).unwrap(), ("project", "team/app"));
        assert_eq!(
            split(&Repo::new("h", "app")).unwrap_err().kind,
            crate::error::Kind::Input
        );
    }

    #[test]
    fn robot_names_survive_basic() {
        use base64::Engine;
        let v = basic("robot$proj+ci", &Secret::new("pw")).unwrap();
        let b64 = v.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, b"robot$proj+ci:pw");
    }

    #[test]
    fn listing_uses_manifest_media_type_and_newest_push() {
        let json = r#"[
          {"digest":"sha256:a","media_type":"application/vnd.oci.image.config.v1+json",
           "manifest_media_type":"application/vnd.oci.image.manifest.v1+json",
           "push_time":"2024-05-01T10:00:00.000Z",
           "tags":[{"name":"v1","push_time":"2024-05-01T10:00:00.000Z"},
                   {"name":"v2","push_time":"2024-06-01T10:00:00.000Z"}]},
          {"digest":"sha256:b","manifest_media_type":"application/vnd.oci.image.index.v1+json",
           "push_time":"0001-01-01T00:00:00.000Z","tags":null}
        ]"#;
        let l = to_listing(serde_json::from_str(json).unwrap());
        assert_eq!(l.tags.len(), 2);
        assert_eq!(l.tags["v2"], "sha256:a");
        let a = &l.manifests["sha256:a"];
        assert_eq!(
            a.media_type.as_deref(),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(
            a.pushed,
            Some(humantime::parse_rfc3339("2024-06-01T10:00:00Z").unwrap())
        );
        assert_eq!(l.manifests["sha256:b"].pushed, None);
    }

    #[test]
    fn listing_gives_pull_times_and_untagged_artifacts() {
        let json = r#"[
          {"digest":"sha256:a","push_time":"2024-05-01T10:00:00.000Z",
           "pull_time":"2024-07-01T08:00:00.000Z","tags":[{"name":"v1"}]},
          {"digest":"sha256:b","push_time":"2024-05-01T10:00:00.000Z",
           "pull_time":"0001-01-01T00:00:00.000Z","tags":[]}
        ]"#;
        let l = to_listing(serde_json::from_str(json).unwrap());
        assert_eq!(
            l.manifests["sha256:a"].pulled,
            Pulled::At(humantime::parse_rfc3339("2024-07-01T08:00:00Z").unwrap())
        );
        assert_eq!(l.manifests["sha256:b"].pulled, Pulled::Never);
        let untagged: Vec<&String> = l.untagged().map(|(d, _)| d).collect();
        assert_eq!(untagged, vec!["sha256:b"]);
    }

    #[test]
    fn immutability_refusals_are_kept() {
        let m = "the tag v1 configured as immutable, cannot be deleted";
        assert!(
            kept_reason(412, Some("PRECONDITION"), m)
                .unwrap()
                .contains("immutab")
        );
        assert!(kept_reason(403, Some("FORBIDDEN"), m).is_some());
        assert_eq!(kept_reason(403, Some("FORBIDDEN"), "forbidden"), None);
    }
}
