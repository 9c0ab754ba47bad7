//! Branches and tags from forge APIs, for git-aware cleanup.

pub mod github;
pub mod gitlab;
