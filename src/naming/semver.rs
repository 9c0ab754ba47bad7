//! Tags as docker/metadata-action computes them (<https://github.com/docker/metadata-action>):
//! the semver expansion of a git tag, the `latest` rule of its `flavor: latest=auto`, and the
//! `sha-<7>` commit tag. Pure: the settings layer decides which of these a run asks for.

use std::fmt;

/// A version as metadata-action reads a git tag with node-semver: `MAJOR.MINOR.PATCH`, an
/// optional pre-release after `-` and build metadata after `+`, with an optional leading `v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// The pre-release (`rc.1` in `1.2.3-rc.1`).
    pub pre: Option<String>,
}

impl Version {
    /// `None` when the text is not a semantic version (<https://semver.org/>): such a git tag
    /// gets no expansion, as metadata-action skips it with a warning.
    pub fn parse(text: &str) -> Option<Version> {
        let s = text.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        // Build metadata is not part of `{{version}}`, and `+` is no tag character.
        let (s, build) = match s.split_once('+') {
            Some((v, b)) => (v, Some(b)),
            None => (s, None),
        };
        if let Some(b) = build
            && !identifiers(b, false)
        {
            return None;
        }
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        if let Some(p) = pre
            && !identifiers(p, true)
        {
            return None;
        }
        let mut parts = core.split('.');
        let major = number(parts.next()?)?;
        let minor = number(parts.next()?)?;
        let patch = number(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
            pre: pre.map(str::to_string),
        })
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }

    /// The tags of this version, most specific first: `{{version}}`, then for a release
    /// `{{major}}.{{minor}}` and `{{major}}` (not `0`: see [`expand`]).
    pub fn tags(&self) -> Vec<String> {
        let mut out = vec![self.to_string()];
        if self.pre.is_none() {
            out.push(format!("{}.{}", self.major, self.minor));
            if self.major != 0 {
                out.push(self.major.to_string());
            }
        }
        out
    }
}

impl fmt::Display for Version {
    /// `{{version}}`: `MAJOR.MINOR.PATCH[-PRE]`, without the `v` and the build metadata.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        Ok(())
    }
}

/// A numeric identifier: digits, no leading zero (semver §2).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`; in a pre-release a numeric one has no leading zero
/// (semver §9, §10).
fn identifiers(s: &str, pre: bool) -> bool {
    s.split('.').all(|id| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !(pre
                && id.len() > 1
                && id.starts_with('0')
                && id.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The semver tags of a git tag: `v1.2.3` → `1.2.3`, `1.2`, `1`; a pre-release → only its full
/// version; `0.y.z` → no bare `0` (metadata-action's README, "Major version zero": tag `0` should
/// not be generated, because a 0.y.z API is not stable). Empty when the git tag is no version.
pub fn expand(git_tag: &str) -> Vec<String> {
    Version::parse(git_tag)
        .map(|v| v.tags())
        .unwrap_or_default()
}

/// `--tag-latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latest {
    /// `latest` follows the newest release: a git tag that is the highest release version of
    /// the repository; in a repository without release tags, the default branch. Never a
    /// pre-release, another branch, a pull request or a commit. See [`decide_latest`].
    #[default]
    Auto,
    /// Always `latest`.
    True,
    /// Never `latest`.
    False,
}

impl std::str::FromStr for Latest {
    type Err = String;
    fn from_str(s: &str) -> Result<Latest, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Latest::Auto),
            "true" => Ok(Latest::True),
            "false" => Ok(Latest::False),
            _ => Err(format!("{s:?} is not auto, true or false")),
        }
    }
}

/// What `--tag-latest auto` weighs: what this run publishes, and what the repository holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestFacts {
    /// The git tag this run publishes.
    pub git_tag: Option<String>,
    /// The branch this run publishes (no git tag), and the repository's default branch.
    pub branch: Option<String>,
    pub default_branch: Option<String>,
    /// Every tag of the repository, when it could be read in full; `None` when not (a shallow
    /// CI checkout fetches no tags, or only the one it builds).
    pub repo_tags: Option<Vec<String>>,
}

/// Whether the run tags `latest`, and why (the run says it, so a missing `latest` is explained).
///
/// `auto` keeps `latest` on the newest release, where metadata-action's `latest=auto` gives it to
/// whichever release tag was pushed last: a fix released for an old line (`v1.4.1` after
/// `v2.0.0`) must not move `latest` back. Without release tags, `latest` is the default branch
/// (the idiom `type=raw,value=latest,enable={{is_default_branch}}` of that action's README).
pub fn decide_latest(choice: Latest, f: &LatestFacts) -> (bool, String) {
    match choice {
        Latest::True => return (true, "--tag-latest true".into()),
        Latest::False => return (false, "--tag-latest false".into()),
        Latest::Auto => {}
    }
    let highest = f.repo_tags.as_ref().map(|tags| highest_release(tags));
    if let Some(t) = &f.git_tag {
        let Some(v) = Version::parse(t) else {
            return (false, format!("the git tag {t} is no version"));
        };
        if v.is_prerelease() {
            return (false, format!("{t} is a pre-release"));
        }
        return match highest {
            Some(Some((top, name))) if release_key(&top) > release_key(&v) => (
                false,
                format!("{t} is not the repository's highest release ({name} is)"),
            ),
            Some(_) => (true, format!("{t} is the repository's highest release")),
            None => (
                true,
                format!("{t} is a release (the repository's other tags could not be read)"),
            ),
        };
    }
    let (Some(branch), Some(default)) = (&f.branch, &f.default_branch) else {
        return (false, "no release tag and not the default branch".into());
    };
    if branch != default {
        return (
            false,
            format!("{branch} is not the default branch ({default})"),
        );
    }
    match highest {
        Some(None) => (
            true,
            format!("{branch} is the default branch and the repository has no release tags"),
        ),
        Some(Some((_, name))) => (
            false,
            format!("latest follows the releases ({name} is the highest), not the default branch"),
        ),
        None => (
            false,
            format!(
                "{branch} is the default branch, but the repository's tags could not be read to \
                 rule out releases (fetch tags, or pass --tag-latest true)"
            ),
        ),
    }
}

/// The highest release version among `tags`, with the tag that names it.
fn highest_release(tags: &[String]) -> Option<(Version, String)> {
    tags.iter()
        .filter_map(|t| Version::parse(t).map(|v| (v, t.clone())))
        .filter(|(v, _)| !v.is_prerelease())
        .max_by_key(|(v, _)| release_key(v))
}

fn release_key(v: &Version) -> (u64, u64, u64) {
    (v.major, v.minor, v.patch)
}

/// metadata-action's short commit length (`type=sha`, `format=short`).
pub const SHORT_SHA: usize = 7;

/// `type=sha`: `sha-` and the first seven characters of the commit, lower-cased.
pub fn sha_tag(commit: &str) -> String {
    let c = commit.to_ascii_lowercase();
    format!("sha-{}", &c[..c.len().min(SHORT_SHA)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_metadata_action_examples() {
        // (git tag, tags). Rows from the README of https://github.com/docker/metadata-action.
        let rows: &[(&str, &[&str])] = &[
            // "type=semver" table: `v1.2.3` with `{{version}}`, `{{major}}.{{minor}}`, `{{major}}`
            // (the `v{{major}}` row without its literal `v`).
            ("v1.2.3", &["1.2.3", "1.2", "1"]),
            // "type=semver" table: `v2.0.8-beta.67` gives `2.0.8-beta.67` for `{{version}}` and
            // for `{{major}}.{{minor}}` ("Pre-release ... will only extend {{version}}").
            ("v2.0.8-beta.67", &["2.0.8-beta.67"]),
            // "Semver" usage table: `refs/tags/v1.2.3` → `1.2.3`, `1.2` (and `latest`).
            ("v1.2.3", &["1.2.3", "1.2", "1"]),
            // "Major version zero": `refs/tags/v0.1.2` → `0.1.2`, `0.1`, and `{{major}}` disabled.
            ("v0.1.2", &["0.1.2", "0.1"]),
            // The brief's pre-release example: only the full version.
            ("v1.2.3-rc.1", &["1.2.3-rc.1"]),
            // A tag without `v` is a version too; build metadata is not part of `{{version}}`.
            ("1.2.3", &["1.2.3", "1.2", "1"]),
            ("v1.2.3+build.5", &["1.2.3", "1.2", "1"]),
            // Not semantic versions (metadata-action warns and makes no tag): no expansion.
            ("v1.2", &[]),
            ("release-1", &[]),
            ("v01.2.3", &[]),
            ("v1.2.3-01", &[]),
            ("v1.2.3.4", &[]),
            ("V1.2.3", &[]),
            ("v1.2.3-", &[]),
        ];
        for (tag, want) in rows {
            assert_eq!(expand(tag), *want, "{tag}");
        }
    }

    #[test]
    fn latest_follows_the_newest_release_else_the_default_branch() {
        let tags = |t: &[&str]| Some(t.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let on_tag = |t: &str, repo: Option<Vec<String>>| LatestFacts {
            git_tag: Some(t.into()),
            repo_tags: repo,
            ..Default::default()
        };
        let on_branch = |b: &str, repo: Option<Vec<String>>| LatestFacts {
            branch: Some(b.into()),
            default_branch: Some("main".into()),
            repo_tags: repo,
            ..Default::default()
        };
        let releases = tags(&["v1.4.0", "v2.0.0", "v2.1.0-rc.1", "nightly"]);
        // (choice, facts, latest?, reason contains).
        let rows: Vec<(Latest, LatestFacts, bool, &str)> = vec![
            // metadata-action's README "Semver" table: refs/tags/v1.2.3 → … latest.
            (
                Latest::Auto,
                on_tag("v1.2.3", None),
                true,
                "other tags could not be read",
            ),
            (
                Latest::Auto,
                on_tag("v2.0.1", releases.clone()),
                true,
                "highest release",
            ),
            (
                Latest::Auto,
                on_tag("v2.0.0", releases.clone()),
                true,
                "highest release",
            ),
            // A fix for an old line does not take latest from v2.0.0.
            (
                Latest::Auto,
                on_tag("v1.4.1", releases.clone()),
                false,
                "(v2.0.0 is)",
            ),
            // A pre-release above every release still gets no latest.
            (
                Latest::Auto,
                on_tag("v3.0.0-rc.1", releases.clone()),
                false,
                "pre-release",
            ),
            (
                Latest::Auto,
                on_tag("nightly", releases.clone()),
                false,
                "no version",
            ),
            // metadata-action's README: refs/heads/master → master only, unless asked.
            (
                Latest::Auto,
                on_branch("main", tags(&["nightly"])),
                true,
                "no release tags",
            ),
            (
                Latest::Auto,
                on_branch("main", tags(&[])),
                true,
                "no release tags",
            ),
            (
                Latest::Auto,
                on_branch("main", releases.clone()),
                false,
                "follows the releases",
            ),
            (
                Latest::Auto,
                on_branch("main", None),
                false,
                "could not be read",
            ),
            (
                Latest::Auto,
                on_branch("feature", tags(&[])),
                false,
                "not the default branch",
            ),
            (
                Latest::Auto,
                LatestFacts::default(),
                false,
                "not the default branch",
            ),
            (Latest::True, on_branch("feature", None), true, "true"),
            (
                Latest::False,
                on_tag("v9.9.9", releases.clone()),
                false,
                "false",
            ),
        ];
        for (choice, facts, want, why) in rows {
            let (got, reason) = decide_latest(choice, &facts);
            assert_eq!(got, want, "{choice:?} {facts:?}: {reason}");
            assert!(reason.contains(why), "{reason:?} does not say {why:?}");
        }
        assert_eq!("AUTO".parse::<Latest>(), Ok(Latest::Auto));
        assert!("yes".parse::<Latest>().is_err());
    }

    #[test]
    fn sha_tags_are_seven_characters() {
        // README "type=sha": "Output Git short commit ... as Docker tag like `sha-ad132f5`".
        assert_eq!(
            sha_tag("AD132F5b1e0f4c2d8e9f00112233445566778899"),
            "sha-ad132f5"
        );
        assert_eq!(sha_tag("abc"), "sha-abc");
    }
}
