//! Repository layout: where each image goes (multirepo, monorepo, unnamed image).
//!
//! | mode      | image `NAME`, tag `TAG`  |
//! |-----------|--------------------------|
//! | multirepo | `IMAGES_REPO/NAME:TAG`   |
//! | monorepo  | `IMAGES_REPO:NAME-TAG`   |
//! | unnamed   | `IMAGES_REPO:TAG`        |
//!
//! `auto` picks multirepo where the registry nests repository names and otherwise follows the
//! depth of the address (Docker Hub `account` → multirepo, `account/repo` → monorepo).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::reference::ImagesRepo;
use super::tag::{monorepo_tag, validate_image_name, validate_tag};
use crate::error::{Error, Result};
use crate::implementation::Capabilities;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeChoice {
    #[default]
    Auto,
    Multirepo,
    Monorepo,
}

impl FromStr for ModeChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(ModeChoice::Auto),
            "multirepo" => Ok(ModeChoice::Multirepo),
            "monorepo" => Ok(ModeChoice::Monorepo),
            _ => Err(Error::input(format!("unknown images repo mode {s:?}"))
                .with_hint("use auto, multirepo or monorepo")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Multirepo,
    Monorepo,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Multirepo => "multirepo",
            Mode::Monorepo => "monorepo",
        })
    }
}

/// Where the images of one run go: the address, the resolved mode and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub repo: ImagesRepo,
    pub mode: Mode,
    pub reason: String,
    caps: Capabilities,
}

/// The repository and tag one (image, tag) pair is published as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `host/path` without tag.
    pub repository: String,
    pub tag: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

impl Layout {
    /// Resolves the mode for `repo` on a registry with capabilities `caps`.
    pub fn resolve(repo: ImagesRepo, choice: ModeChoice, caps: Capabilities) -> Result<Layout> {
        let depth = caps.depth;
        let n = repo.path.len();
        let title = caps.implementation.title();
        let address = repo.to_string();
        let (mode, reason) = match choice {
            ModeChoice::Multirepo => (
                Mode::Multirepo,
                "chosen with --images-repo-mode".to_string(),
            ),
            ModeChoice::Monorepo => (Mode::Monorepo, "chosen with --images-repo-mode".to_string()),
            ModeChoice::Auto if depth.nests() => (
                Mode::Multirepo,
                format!("{title} allows nested repository names"),
            ),
            ModeChoice::Auto if depth.allows(n + 1) => (
                Mode::Multirepo,
                format!(
                    "{title} cannot nest repositories and {address:?} is an account: one repository per image"
                ),
            ),
            ModeChoice::Auto if depth.allows(n) => (
                Mode::Monorepo,
                format!(
                    "{title} cannot nest repositories and {address:?} is a repository: images share it"
                ),
            ),
            ModeChoice::Auto => return Err(depth_error(&address, title, caps, n)),
        };
        match mode {
            Mode::Multirepo if !depth.allows(n + 1) => {
                let e = if depth.max.is_some_and(|max| n + 1 > max) {
                    Error::input(format!(
                        "images repo {address:?}: multirepo would give {title} repositories nested \
                         deeper than it allows"
                    ))
                    .with_hint("remove the repository from the address, or use monorepo")
                } else {
                    depth_error(&address, title, caps, n)
                };
                return Err(e);
            }
            Mode::Monorepo if n == 0 => {
                return Err(Error::input(format!(
                    "images repo {address:?} is a bare registry: monorepo needs a repository to hold every image"
                ))
                .with_hint("add a repository to the address (HOST/REPOSITORY), or use multirepo"));
            }
            Mode::Monorepo if !depth.allows(n) => {
                let e = if n < depth.min {
                    Error::input(format!(
                        "images repo {address:?} is an account on {title}, which cannot nest repositories: \
                         monorepo needs a repository in the address"
                    ))
                    .with_hint("add a repository to the address, or use multirepo")
                } else {
                    depth_error(&address, title, caps, n)
                };
                return Err(e);
            }
            _ => {}
        }
        Ok(Layout {
            repo,
            mode,
            reason,
            caps,
        })
    }

    /// Checks that an image can be placed in this layout (before anything is sent).
    pub fn check_image(&self, image: Option<&str>) -> Result<()> {
        self.target(image, "tag").map(|_| ())
    }

    /// The repository an image lives in.
    pub fn repository(&self, image: Option<&str>) -> Result<String> {
        Ok(self.target(image, "tag")?.repository)
    }

    /// The prefix that marks an image's tags in monorepo mode (`backend-`), if any.
    pub fn tag_prefix(&self, image: Option<&str>) -> Option<String> {
        match (self.mode, image) {
            (Mode::Monorepo, Some(name)) => Some(format!("{name}-")),
            _ => None,
        }
    }

    /// The reference of `image` (None = unnamed image) under `tag`.
    pub fn target(&self, image: Option<&str>, tag: &str) -> Result<Target> {
        validate_tag(tag).map_err(|e| Error::input(format!("tag {tag:?}: {e}")).with_source(e))?;
        let host = &self.repo.host;
        let base = self.repo.path.join("/");
        let title = self.caps.implementation.title();
        let Some(name) = image else {
            if !self.caps.depth.allows(self.repo.path.len()) || self.repo.path.is_empty() {
                return Err(Error::input(format!(
                    "an unnamed image (image: ~) is published as IMAGES_REPO:TAG, but {:?} is not a \
                     repository on {title}",
                    self.repo.to_string()
                ))
                .with_hint("give a repository address, e.g. HOST/ACCOUNT/REPOSITORY"));
            }
            return Ok(Target {
                repository: format!("{host}/{base}"),
                tag: tag.to_string(),
            });
        };
        validate_image_name(name)
            .map_err(|e| Error::input(format!("image name {name:?}: {e}")).with_source(e))?;
        match self.mode {
            Mode::Multirepo => {
                // GitLab: an image nests at most two levels below its project, and the address
                // names the project at least
                // (https://gitlab.com/gitlab-org/gitlab/-/merge_requests/102063).
                if self.caps.implementation == crate::implementation::Implementation::GitLab
                    && name.split('/').count() > 2
                {
                    return Err(Error::input(format!(
                        "image {name:?} would be published as {host}/{}, but {title} allows at \
                         most two levels below the project",
                        join(&base, name)
                    ))
                    .with_hint("use an image name with at most one '/'"));
                }
                let depth = self.repo.path.len() + name.split('/').count();
                if !self.caps.depth.allows(depth) {
                    return Err(Error::input(format!(
                        "image {name:?} would be published as {host}/{}, deeper than {title} allows",
                        join(&base, name)
                    ))
                    .with_hint("use a shorter image name or address, or use monorepo"));
                }
                Ok(Target {
                    repository: format!("{host}/{}", join(&base, name)),
                    tag: tag.to_string(),
                })
            }
            Mode::Monorepo => {
                if name.contains('/') {
                    return Err(Error::input(format!(
                        "image {name:?} contains '/', which cannot be part of a monorepo tag ({name}-TAG)"
                    ))
                    .with_hint("rename the image without '/', or use multirepo"));
                }
                let tag = monorepo_tag(name, tag)
                    .map_err(|e| Error::input(format!("image {name:?}: {e}")).with_source(e))?;
                Ok(Target {
                    repository: format!("{host}/{base}"),
                    tag,
                })
            }
        }
    }

    /// A human pattern for `detect` when no tag is given, e.g. `docker.io/flant/project:backend-<tag>`.
    pub fn pattern(&self, image: Option<&str>) -> Result<String> {
        let t = self.target(image, "x")?;
        let tag = match self.tag_prefix(image) {
            Some(prefix) => format!("{prefix}<tag>"),
            None => "<tag>".to_string(),
        };
        Ok(format!("{}:{tag}", t.repository))
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// `n` is the number of path components the address has.
fn depth_error(address: &str, title: &str, caps: Capabilities, n: usize) -> Error {
    let d = caps.depth;
    let shape = match (d.min, d.max) {
        (2, Some(2)) => "ACCOUNT/REPOSITORY",
        (3, Some(3)) => "OWNER/PROJECT/IMAGE",
        (2, None) => "ACCOUNT/REPOSITORY[/…]",
        (3, None) => "PROJECT/REPOSITORY/IMAGE[/…]",
        _ => "REPOSITORY",
    };
    Error::input(format!(
        "images repo {address:?} has {n} path component(s), but {title} repositories have the form \
         HOST/{shape}"
    ))
    .with_hint(format!(
        "use an address such as HOST/{}",
        shape.trim_end_matches("[/…]")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::implementation::{Capabilities, Implementation as I};

    fn layout(addr: &str, imp: I, choice: ModeChoice) -> Result<Layout> {
        let repo = ImagesRepo::parse(addr).unwrap();
        let caps = Capabilities::of(imp, &repo.host);
        Layout::resolve(repo, choice, caps)
    }

    fn refs(addr: &str, imp: I, choice: ModeChoice) -> Result<(Mode, String, String)> {
        let l = layout(addr, imp, choice)?;
        Ok((
            l.mode,
            l.target(Some("backend"), "tag")?.to_string(),
            l.target(Some("frontend"), "tag")?.to_string(),
        ))
    }

    #[test]
    fn seed_examples() {
        use ModeChoice::Auto;
        assert_eq!(
            refs("flant", I::DockerHub, Auto).unwrap(),
            (
                Mode::Multirepo,
                "docker.io/flant/backend:tag".into(),
                "docker.io/flant/frontend:tag".into()
            )
        );
        assert_eq!(
            refs("flant/project", I::DockerHub, Auto).unwrap(),
            (
                Mode::Monorepo,
                "docker.io/flant/project:backend-tag".into(),
                "docker.io/flant/project:frontend-tag".into()
            )
        );
    }

    /// werf's resolver matrix, one row per address kind and implementation.
    #[test]
    fn resolver_matrix() {
        use ModeChoice::Auto;
        let rows: &[(&str, I, Mode, &str)] = &[
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                I::Ecr,
                Mode::Multirepo,
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/backend:tag",
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo",
                I::Ecr,
                Mode::Multirepo,
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo/backend:tag",
            ),
            (
                "reg.azurecr.io",
                I::Acr,
                Mode::Multirepo,
                "reg.azurecr.io/backend:tag",
            ),
            (
                "reg.azurecr.io/repo",
                I::Acr,
                Mode::Multirepo,
                "reg.azurecr.io/repo/backend:tag",
            ),
            (
                "localhost:5000",
                I::Default,
                Mode::Multirepo,
                "localhost:5000/backend:tag",
            ),
            (
                "localhost:5000/test",
                I::Default,
                Mode::Multirepo,
                "localhost:5000/test/backend:tag",
            ),
            (
                "account",
                I::DockerHub,
                Mode::Multirepo,
                "docker.io/account/backend:tag",
            ),
            (
                "account/repo",
                I::DockerHub,
                Mode::Monorepo,
                "docker.io/account/repo:backend-tag",
            ),
            (
                "gcr.io/project",
                I::Gcr,
                Mode::Multirepo,
                "gcr.io/project/backend:tag",
            ),
            (
                "europe-docker.pkg.dev/project/repo",
                I::Gcr,
                Mode::Multirepo,
                "europe-docker.pkg.dev/project/repo/backend:tag",
            ),
            (
                "docker.pkg.github.com/account/project",
                I::GitHub,
                Mode::Multirepo,
                "docker.pkg.github.com/account/project/backend:tag",
            ),
            (
                "docker.pkg.github.com/account/project/package",
                I::GitHub,
                Mode::Monorepo,
                "docker.pkg.github.com/account/project/package:backend-tag",
            ),
            (
                "ghcr.io/account",
                I::GitHub,
                Mode::Multirepo,
                "ghcr.io/account/backend:tag",
            ),
            (
                "ghcr.io/account/project",
                I::GitHub,
                Mode::Multirepo,
                "ghcr.io/account/project/backend:tag",
            ),
            (
                "registry.gitlab.com/group/project",
                I::GitLab,
                Mode::Multirepo,
                "registry.gitlab.com/group/project/backend:tag",
            ),
            (
                "harbor.example.com/project",
                I::Harbor,
                Mode::Multirepo,
                "harbor.example.com/project/backend:tag",
            ),
            (
                "quay.io/account",
                I::Quay,
                Mode::Multirepo,
                "quay.io/account/backend:tag",
            ),
            (
                "quay.io/account/repo",
                I::Quay,
                Mode::Monorepo,
                "quay.io/account/repo:backend-tag",
            ),
        ];
        for (addr, imp, mode, want) in rows {
            let (got_mode, got, _) =
                refs(addr, *imp, Auto).unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert_eq!((got_mode, got.as_str()), (*mode, *want), "{addr}");
        }
    }

    #[test]
    fn explicit_mode_contradicting_the_address_fails_with_the_fix() {
        let e = layout("flant", I::DockerHub, ModeChoice::Monorepo).unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("add a repository to the address, or use multirepo")
        );
        let e = layout("flant/project", I::DockerHub, ModeChoice::Multirepo).unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("remove the repository from the address, or use monorepo")
        );
        let e = layout("quay.io/acme/app", I::Quay, ModeChoice::Multirepo).unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("remove the repository from the address, or use monorepo")
        );
        let e = layout("docker.pkg.github.com/o/p", I::GitHub, ModeChoice::Monorepo).unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("add a repository to the address, or use multirepo")
        );
    }

    #[test]
    fn monorepo_on_a_bare_registry_is_an_error() {
        let e = layout("localhost:5000", I::Default, ModeChoice::Monorepo).unwrap_err();
        assert!(e.message.contains("bare registry"), "{e}");
    }

    #[test]
    fn unnamed_image() {
        let l = layout("localhost:5000/app", I::Default, ModeChoice::Monorepo).unwrap();
        assert_eq!(
            l.target(None, "v1").unwrap().to_string(),
            "localhost:5000/app:v1"
        );
        let l = layout("localhost:5000/app", I::Default, ModeChoice::Auto).unwrap();
        assert_eq!(
            l.target(None, "v1").unwrap().to_string(),
            "localhost:5000/app:v1"
        );
        let l = layout("localhost:5000", I::Default, ModeChoice::Auto).unwrap();
        assert!(l.target(None, "v1").is_err());
        // An account on Docker Hub is not a repository.
        let l = layout("flant", I::DockerHub, ModeChoice::Auto).unwrap();
        assert!(l.target(None, "v1").is_err());
        let l = layout("flant/app", I::DockerHub, ModeChoice::Auto).unwrap();
        assert_eq!(
            l.target(None, "v1").unwrap().to_string(),
            "docker.io/flant/app:v1"
        );
    }

    #[test]
    fn tags_are_validated_and_monorepo_tags_stay_short() {
        let l = layout("localhost:5000/app", I::Default, ModeChoice::Monorepo).unwrap();
        assert!(l.target(Some("backend"), &"a".repeat(128)).is_err());
        assert!(l.target(Some("backend"), &"a".repeat(120)).is_ok());
        assert!(l.target(Some("backend"), "-bad").is_err());
        assert_eq!(
            l.pattern(Some("backend")).unwrap(),
            "localhost:5000/app:backend-<tag>"
        );
        assert_eq!(l.tag_prefix(Some("api")).as_deref(), Some("api-"));
    }

    #[test]
    fn bare_hosts_that_need_an_account() {
        assert!(layout("ghcr.io", I::GitHub, ModeChoice::Auto).is_err());
        assert!(layout("docker.io", I::DockerHub, ModeChoice::Auto).is_err());
        assert!(layout("docker.io/a/b/c", I::DockerHub, ModeChoice::Auto).is_err());
    }
}
