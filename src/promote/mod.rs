//! `dockhand promote`, its pure decisions: which image name the promoted image takes in the
//! destination images repo, and whether the source still is what was tested. The copy itself is
//! the publish engine's (`publish::copy`), driven by `commands::promote`.

use crate::naming::reference::{Digest, Reference};

/// Why the destination image name cannot be chosen (bad input, exit 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("promote copies one image, but --image names {0}")]
    SeveralSelected(String),
    #[error("several images are configured ({0}); promote copies one")]
    SeveralConfigured(String),
}

fn names(list: &[Option<String>]) -> String {
    list.iter()
        .map(|n| n.as_deref().unwrap_or("~"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The image name the promoted image takes: the one `--image` names (`selected`), else the only
/// configured image, else (no image configured) the last segment of the source repository, so
/// `staging.example.com/team/backend@…` is promoted as `backend`. `None` is the unnamed image.
pub fn image_name(
    selected: &[Option<String>],
    configured: &[Option<String>],
    from: &Reference,
) -> Result<Option<String>, NameError> {
    match (selected, configured) {
        ([one], _) => Ok(one.clone()),
        ([_, _, ..], _) => Err(NameError::SeveralSelected(names(selected))),
        ([], [one]) => Ok(one.clone()),
        ([], []) => Ok(from.repository.rsplit('/').next().map(str::to_string)),
        ([], _) => Err(NameError::SeveralConfigured(names(configured))),
    }
}

/// What to copy, decided from `--from`, `--from-digest` and (for a tag) the digest the source
/// tag points at now (`current`; `None` when `--from` has a digest and was not looked up).
#[derive(Debug, PartialEq, Eq)]
pub enum Pin {
    /// Copy this digest.
    Copy(String),
    /// The tag moved since the test: copy nothing.
    Moved { tested: String, now: String },
    /// The tag does not exist (any more).
    Gone,
}

/// Decides [`Pin`]: a digest in `--from` is what is copied; a tag is resolved, and with
/// `--from-digest` it must still point at that digest.
pub fn pin(from: &Reference, pinned: Option<&Digest>, current: Option<&str>) -> Pin {
    if let Some(d) = &from.digest {
        return Pin::Copy(d.to_string());
    }
    match (current, pinned) {
        (None, _) => Pin::Gone,
        (Some(now), Some(tested)) if now != tested.to_string() => Pin::Moved {
            tested: tested.to_string(),
            now: now.to_string(),
        },
        (Some(now), _) => Pin::Copy(now.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }
    fn n(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn the_image_name_is_the_selected_the_only_or_the_source_repositorys() {
        let from = r("stage.example/team/backend:rc1");
        assert_eq!(
            image_name(&[n("api")], &[n("api"), n("web")], &from),
            Ok(n("api"))
        );
        assert_eq!(image_name(&[None], &[], &from), Ok(None));
        assert_eq!(image_name(&[], &[n("web")], &from), Ok(n("web")));
        assert_eq!(image_name(&[], &[], &from), Ok(n("backend")));
        assert_eq!(
            image_name(&[], &[n("api"), None], &from),
            Err(NameError::SeveralConfigured("api, ~".into()))
        );
        assert!(matches!(
            image_name(&[n("a"), n("b")], &[], &from),
            Err(NameError::SeveralSelected(_))
        ));
    }

    #[test]
    fn a_tag_is_copied_only_while_it_points_at_the_tested_digest() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let tested = Digest::parse(&a).unwrap();
        let tag = r("stage.example/app:rc1");
        assert_eq!(pin(&tag, Some(&tested), Some(&a)), Pin::Copy(a.clone()));
        assert_eq!(
            pin(&tag, Some(&tested), Some(&b)),
            Pin::Moved {
                tested: a.clone(),
                now: b.clone()
            }
        );
        assert_eq!(pin(&tag, Some(&tested), None), Pin::Gone);
        assert_eq!(pin(&tag, None, Some(&b)), Pin::Copy(b.clone()));
        let by_digest = r(&format!("stage.example/app@{a}"));
        assert_eq!(pin(&by_digest, None, None), Pin::Copy(a));
    }
}
