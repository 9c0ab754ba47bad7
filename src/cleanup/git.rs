//! Which branches and tags exist, for git-aware cleanup: from the local checkout (including
//! remote-tracking branches, since CI checkouts often have only the current branch locally) or
//! from the remote with `git ls-remote`. When refs cannot be read, git-aware deletion is off: a
//! missing input never turns into "every branch is gone".

use std::path::Path;

use super::model::GitRefs;
use crate::error::{Classify, Error, Kind, Result};

/// Where the branches and tags come from (`--git-refs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefSource {
    #[default]
    Auto,
    Local,
    Remote,
    GitHub,
    GitLab,
    None,
}

/// Which commits the commit rules keep: the newest N of the history, and those made within a
/// duration (`None` for a rule that is not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitRules {
    pub newest: Option<u32>,
    pub within: Option<std::time::Duration>,
}

impl CommitRules {
    pub fn active(&self) -> bool {
        self.newest.is_some() || self.within.is_some()
    }
}

/// Reads the refs; `Ok(None)` when the source is `none`, or `auto` finds no repository.
/// The commits that `rules` keep come from the checkout's history (not from `remote`).
pub fn read(source: RefSource, dir: &Path, rules: CommitRules) -> Result<Option<GitRefs>> {
    let with_commits = |mut refs: GitRefs| -> Result<GitRefs> {
        if rules.active() {
            refs.recent_commits = Some(recent_commits(dir, rules)?);
        }
        Ok(refs)
    };
    match source {
        RefSource::None => Ok(None),
        RefSource::Local => local(dir).and_then(with_commits).map(Some),
        RefSource::Remote => remote(dir).map(Some),
        RefSource::Auto => match local(dir).and_then(with_commits) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                crate::log::warn(&format!("git-aware cleanup is off: {e}"));
                Ok(None)
            }
        },
        // Forge APIs are asynchronous and read by the cleanup command (`forge`).
        RefSource::GitHub | RefSource::GitLab => Err(Error::unsupported(
            "forge refs are read by forge::github / forge::gitlab",
        )),
    }
}

/// A checkout that knows every branch: not shallow, and either without remotes or fetching every
/// branch of `origin` (`refs/heads/*`). A CI checkout (`fetch-depth: 1`, `GIT_DEPTH`) or a
/// single-branch clone is not: its missing branches would look deleted.
pub fn checkout_is_complete(dir: &Path) -> bool {
    let shallow = git(dir, &["rev-parse", "--is-shallow-repository"]).map(|s| s.trim() == "true");
    let Ok(false) = shallow else { return false };
    let remotes = git(dir, &["remote"]).unwrap_or_default();
    if remotes.trim().is_empty() {
        return true;
    }
    // A single-branch clone fetches `refs/heads/main` only; every branch needs the wildcard.
    let fetch = git(dir, &["config", "--get-all", "remote.origin.fetch"]).unwrap_or_default();
    fetch.lines().any(|l| l.contains("refs/heads/*"))
}

/// git could not be started (its own refusals are plain [`Error`]s with its stderr).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {source}")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
}

impl Classify for GitError {
    fn kind(&self) -> Kind {
        Kind::Input
    }
    fn hint(&self) -> Option<String> {
        Some("install git, or pass --git-refs none".into())
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // A remote that wants credentials must fail, not wait for a prompt nobody answers
        // (git(1): GIT_TERMINAL_PROMPT).
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|source| Error::from_layer(GitError::Spawn { source }))?;
    if !out.status.success() {
        return Err(Error::input(format!(
            "git {} in {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .with_hint("point --git-dir at the checkout, or pass --git-refs none"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn local(dir: &Path) -> Result<GitRefs> {
    let text = git(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads",
            "refs/tags",
            "refs/remotes",
        ],
    )?;
    Ok(parse(text.lines()))
}

/// Full SHAs of the newest N commits of all refs, and of those committed within the duration.
fn recent_commits(dir: &Path, rules: CommitRules) -> Result<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    if let Some(n) = rules.newest {
        let text = git(
            dir,
            &["log", "--all", "--format=%H", &format!("--max-count={n}")],
        )?;
        out.extend(text.lines().map(str::to_string));
    }
    if let Some(d) = rules.within {
        let since = std::time::SystemTime::now()
            .checked_sub(d)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |t| t.as_secs());
        let text = git(
            dir,
            &["log", "--all", "--format=%H", &format!("--since=@{since}")],
        )?;
        out.extend(text.lines().map(str::to_string));
    }
    Ok(out)
}

/// How long `--tag-latest auto` waits for `git ls-remote --tags` before it counts the
/// repository's tags as unknown.
pub const LS_REMOTE_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Every tag of the repository at `dir`, for `--tag-latest auto`, or `None` when they cannot be
/// known in full. A complete clone lists them itself. A shallow one (a CI checkout) may hold none
/// or only the tag it builds, so `origin` is asked, within [`LS_REMOTE_LIMIT`].
pub fn repository_tags(dir: &Path) -> Option<Vec<String>> {
    let shallow = git(dir, &["rev-parse", "--is-shallow-repository"]).ok()?;
    if shallow.trim() == "false" {
        let text = git(dir, &["tag", "--list"]).ok()?;
        return Some(text.lines().map(str::to_string).collect());
    }
    let text = git_within(dir, &["ls-remote", "--tags", "origin"], LS_REMOTE_LIMIT)?;
    let refs = parse(text.lines().filter_map(|l| l.split_whitespace().nth(1)));
    Some(refs.tags.into_iter().collect())
}

/// `git` that is killed after `limit`; `None` when it fails or runs out of time (said in a
/// verbose line).
fn git_within(dir: &Path, args: &[&str], limit: std::time::Duration) -> Option<String> {
    use std::io::Read;
    let mut child = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    // The output of ls-remote --tags is small, but read it on a thread so a full pipe cannot
    // stall the child while we wait.
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return reader.join().ok()?.ok(),
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                crate::log::verbose(&format!(
                    "git {} gave no answer within {}s",
                    args.join(" "),
                    limit.as_secs()
                ));
                return None;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

fn remote(dir: &Path) -> Result<GitRefs> {
    let text = git(dir, &["ls-remote", "--heads", "--tags", "origin"])?;
    Ok(parse(
        text.lines().filter_map(|l| l.split_whitespace().nth(1)),
    ))
}

/// Sorts ref names into branches and tags (`refs/remotes/<remote>/<branch>` counts as a branch).
pub fn parse<'a>(refs: impl Iterator<Item = &'a str>) -> GitRefs {
    let mut out = GitRefs::default();
    for r in refs {
        let r = r.trim().trim_end_matches("^{}");
        if let Some(b) = r.strip_prefix("refs/heads/") {
            out.branches.insert(b.to_string());
        } else if let Some(t) = r.strip_prefix("refs/tags/") {
            out.tags.insert(t.to_string());
        } else if let Some((_, b)) = r
            .strip_prefix("refs/remotes/")
            .and_then(|rest| rest.split_once('/'))
            && b != "HEAD"
        {
            out.branches.insert(b.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_sorted_into_branches_and_tags() {
        let r = parse(
            [
                "refs/heads/main",
                "refs/remotes/origin/feature/x",
                "refs/remotes/origin/HEAD",
                "refs/tags/v1.0",
                "refs/tags/v1.0^{}",
            ]
            .into_iter(),
        );
        assert_eq!(
            r.branches.into_iter().collect::<Vec<_>>(),
            vec!["feature/x", "main"]
        );
        assert_eq!(r.tags.into_iter().collect::<Vec<_>>(), vec!["v1.0"]);
    }

    /// The message of git's spawn failure, pinned (it must not change).
    #[test]
    fn spawn_error_message_is_pinned() {
        let e = Error::from_layer(GitError::Spawn {
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        });
        assert_eq!(
            e.to_string(),
            "cannot run git: No such file or directory\n  hint: install git, or pass --git-refs none"
        );
        assert_eq!(e.kind, Kind::Input);
    }
}
