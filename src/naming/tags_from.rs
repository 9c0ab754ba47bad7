//! `--tags-from`: docker/metadata-action's `tags` output taken as input
//! (<https://github.com/docker/metadata-action>, "outputs": one full reference per line, or bare
//! tags when its `images` input is empty). A full reference contributes its tag to the repository
//! it names; a bare tag goes to every image.

use super::reference::Reference;
use super::tag::{TagError, validate_tag};

/// One entry of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagsFromEntry {
    /// The line as written, for messages.
    pub text: String,
    pub tag: String,
    /// `registry/repository` (normalised) of a full reference; `None` for a bare tag.
    pub repository: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagsFromError {
    #[error("{text:?} is not a tag: {problem}")]
    Tag { text: String, problem: TagError },
    #[error("{text:?} is not an image reference: {problem}")]
    Reference { text: String, problem: String },
    #[error("{text:?} names no tag")]
    NoTag { text: String },
}

/// Parses the text: entries separated by newlines (metadata-action's default `sep-tags`), commas or
/// spaces; empty entries are skipped. An entry with `/`, `:` or `@` is a reference and must carry a
/// tag (a digest is refused: it names content, not a tag).
pub fn parse(text: &str) -> Result<Vec<TagsFromEntry>, TagsFromError> {
    let mut out: Vec<TagsFromEntry> = Vec::new();
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let entry = if item.contains(['/', ':', '@']) {
            let r = Reference::parse(item).map_err(|e| TagsFromError::Reference {
                text: item.to_string(),
                problem: e.to_string(),
            })?;
            if r.digest.is_some() {
                return Err(TagsFromError::Reference {
                    text: item.to_string(),
                    problem: "a digest names content, not a tag".into(),
                });
            }
            let Some(tag) = r.tag.clone() else {
                return Err(TagsFromError::NoTag {
                    text: item.to_string(),
                });
            };
            TagsFromEntry {
                text: item.to_string(),
                tag,
                repository: Some(r.repository_ref()),
            }
        } else {
            validate_tag(item).map_err(|problem| TagsFromError::Tag {
                text: item.to_string(),
                problem,
            })?;
            TagsFromEntry {
                text: item.to_string(),
                tag: item.to_string(),
                repository: None,
            }
        };
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Whether an entry's reference names `repository` (`host/path`, as the layout gives it), after
/// Docker's normalisation (`docker.io`, `library/`).
pub fn names_repository(entry: &TagsFromEntry, repository: &str) -> bool {
    match &entry.repository {
        None => true,
        Some(r) => Reference::parse(repository).is_ok_and(|t| t.repository_ref() == *r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_action_outputs_are_read() {
        // The `tags` output of metadata-action's "Semver" example for `refs/tags/v1.2.3`
        // with `images: name/app` (README: `name/app:1.2.3`, `name/app:1.2`, `name/app:latest`).
        let e = parse("name/app:1.2.3\nname/app:1.2\nname/app:latest\n").unwrap();
        let tags: Vec<&str> = e.iter().map(|x| x.tag.as_str()).collect();
        assert_eq!(tags, ["1.2.3", "1.2", "latest"]);
        assert_eq!(e[0].repository.as_deref(), Some("docker.io/name/app"));
        assert!(names_repository(&e[0], "docker.io/name/app"));
        assert!(names_repository(&e[0], "index.docker.io/name/app"));
        assert!(!names_repository(&e[0], "ghcr.io/name/app"));

        // A full GHCR reference and bare tags (an empty `images` input), comma-separated too.
        let e = parse("ghcr.io/o/r:1.2.3, pr-2\r\nsha-ad132f5").unwrap();
        assert_eq!(e[0].repository.as_deref(), Some("ghcr.io/o/r"));
        assert_eq!(e[0].tag, "1.2.3");
        assert_eq!(e[1].repository, None);
        assert!(names_repository(&e[1], "ghcr.io/any/thing"));
        assert_eq!(e[2].tag, "sha-ad132f5");
        assert!(parse("  \n\n").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(matches!(parse("-wip"), Err(TagsFromError::Tag { .. })));
        assert!(matches!(
            parse(&"x".repeat(129)),
            Err(TagsFromError::Tag { .. })
        ));
        assert!(matches!(
            parse("ghcr.io/o/r"),
            Err(TagsFromError::NoTag { .. })
        ));
        let digest = format!("ghcr.io/o/r@sha256:{}", "a".repeat(64));
        assert!(matches!(
            parse(&digest),
            Err(TagsFromError::Reference { .. })
        ));
        assert!(matches!(
            parse("ghcr.io/O/R:1"),
            Err(TagsFromError::Reference { .. })
        ));
    }
}
