//! Why a tag is in the list (the option that made it).

/// Why a tag is in the list, which decides whether cleanup may prove its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagStrategy {
    Custom,
    GitBranch,
    GitTag,
    GitCommit,
    /// `--tag-by-digest`: derived from the content.
    Digest,
}
