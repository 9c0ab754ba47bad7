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
    /// metadata-action's `flavor: latest=auto`, narrowed to releases: `latest` for a git tag that
    /// is a semantic version without pre-release, never for a branch, pull request or commit.
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

/// Whether the run tags `latest`, given the git tag it publishes (if any).
pub fn wants_latest(choice: Latest, git_tag: Option<&str>) -> bool {
    match choice {
        Latest::True => true,
        Latest::False => false,
        Latest::Auto => git_tag
            .and_then(Version::parse)
            .is_some_and(|v| !v.is_prerelease()),
    }
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
    fn latest_follows_the_flavor() {
        // (choice, git tag, latest?).
        let rows: &[(Latest, Option<&str>, bool)] = &[
            // README "Semver" table: `refs/tags/v1.2.3` → ..., `latest`.
            (Latest::Auto, Some("v1.2.3"), true),
            // README "Semver" table: `refs/tags/v2.0.8-beta.67` → `2.0.8-beta.67` only.
            (Latest::Auto, Some("v2.0.8-beta.67"), false),
            // README "Semver" table: `refs/heads/master` → `master` only; no git tag, no latest.
            (Latest::Auto, None, false),
            // A git tag that is no version: dockhand adds no `latest` (no release to point at).
            (Latest::Auto, Some("nightly"), false),
            // `latest=true` / `latest=false` of the flavor input.
            (Latest::True, None, true),
            (Latest::True, Some("v2.0.8-beta.67"), true),
            (Latest::False, Some("v1.2.3"), false),
        ];
        for (choice, tag, want) in rows {
            assert_eq!(wants_latest(*choice, *tag), *want, "{choice:?} {tag:?}");
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
