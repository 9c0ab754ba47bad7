//! Tags and image names: the two user-facing names that end up inside a registry reference.
//!
//! Registries reject a bad tag only at push time, after the upload; checking here first turns
//! that late failure into an input error (exit 2) that says exactly which character to change.
//! Grammar (distribution spec): a tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; an image name is
//! one or more lowercase repository components separated by `/`.

use thiserror::Error;

/// The longest tag registries accept (distribution spec, Docker).
pub const MAX_TAG_LEN: usize = 128;

/// Why a tag is not a valid Docker/OCI tag.
///
/// Messages omit the tag itself: callers already print it (`tag "x": …`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TagError {
    #[error("tag is empty; give a tag such as \"latest\" or \"v1.2.3\"")]
    Empty,
    #[error(
        "tag starts with {first:?}, but a tag must start with a letter, a digit or '_': \
         remove the leading {first:?}"
    )]
    BadStart { first: char },
    #[error(
        "invalid character {ch:?} at position {position}; a tag may contain only ASCII letters, \
         digits, '_', '.' and '-'"
    )]
    InvalidChar {
        ch: char,
        /// 1-based character position.
        position: usize,
    },
    #[error("tag is {len} characters long, over the limit of {MAX_TAG_LEN}: shorten it")]
    TooLong { len: usize },
    #[error(
        "monorepo tag {tag:?} (IMAGE-TAG) is {len} characters long, over the limit of \
         {MAX_TAG_LEN}: shorten the image name or the tag"
    )]
    MonorepoTooLong { tag: String, len: usize },
}

/// Why an image name from the config cannot be used as (part of) a repository name.
///
/// Messages omit the name itself: callers already print it (`image name "x": …`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageNameError {
    #[error(
        "image name is empty; give a name such as \"backend\", or use `image: ~` for an \
         unnamed image"
    )]
    Empty,
    #[error("image names must be lowercase: use {suggestion:?}")]
    Uppercase { suggestion: String },
    #[error(
        "image name has an empty path component (leading, trailing or doubled '/'): remove the \
         extra '/'"
    )]
    EmptyComponent,
    #[error(
        "component {component:?} is not a valid repository name component: use lowercase letters \
         and digits, joined by '.', '_', '__' or runs of '-'"
    )]
    InvalidComponent { component: String },
}

/// Checks `tag` against the tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
///
/// Characters are checked before the length so that the first error names the character to fix.
pub fn validate_tag(tag: &str) -> Result<(), TagError> {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else {
        return Err(TagError::Empty);
    };
    if !is_tag_start_char(first) {
        return Err(if is_tag_char(first) {
            TagError::BadStart { first }
        } else {
            TagError::InvalidChar {
                ch: first,
                position: 1,
            }
        });
    }
    if let Some((index, ch)) = chars.enumerate().find(|&(_, c)| !is_tag_char(c)) {
        return Err(TagError::InvalidChar {
            ch,
            position: index + 2,
        });
    }
    // Every character is ASCII now, so bytes == characters.
    if tag.len() > MAX_TAG_LEN {
        return Err(TagError::TooLong { len: tag.len() });
    }
    Ok(())
}

/// The monorepo tag `IMAGE-TAG` for image `image` and tag `tag`.
///
/// `tag` must be a valid tag on its own (the same tag is valid in multirepo mode, so switching
/// modes never changes which tags are accepted), and the combination must fit the 128 limit.
pub fn monorepo_tag(image: &str, tag: &str) -> Result<String, TagError> {
    validate_tag(tag)?;
    let combined = format!("{image}-{tag}");
    match validate_tag(&combined) {
        Err(TagError::TooLong { len }) => Err(TagError::MonorepoTooLong { tag: combined, len }),
        Err(other) => Err(other),
        Ok(()) => Ok(combined),
    }
}

/// Checks an image name from the config: lowercase repository components separated by `/`.
pub fn validate_image_name(name: &str) -> Result<(), ImageNameError> {
    use super::path::{PathProblem, check_repository_path};
    check_repository_path(name).map_err(|problem| match problem {
        PathProblem::Empty => ImageNameError::Empty,
        PathProblem::EmptyComponent => ImageNameError::EmptyComponent,
        PathProblem::Uppercase { suggestion } => ImageNameError::Uppercase { suggestion },
        PathProblem::InvalidComponent { component } => {
            ImageNameError::InvalidComponent { component }
        }
    })
}

/// Whether `name` can prefix monorepo tags (`NAME-TAG`): a valid image name without `/`, short
/// enough to leave room for `-` and at least one tag character.
pub fn image_name_fits_tag_prefix(name: &str) -> bool {
    validate_image_name(name).is_ok() && !name.contains('/') && name.len() + 2 <= MAX_TAG_LEN
}

fn is_tag_start_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_tag_char(c: char) -> bool {
    is_tag_start_char(c) || c == '.' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_tags() {
        for tag in [
            "latest",
            "v1.2.3",
            "Main",
            "release_2",
            "_x",
            "1",
            "a-b.c_d",
            "sha-0123abc",
        ] {
            assert_eq!(validate_tag(tag), Ok(()), "{tag}");
        }
        assert_eq!(validate_tag(&"a".repeat(128)), Ok(()));
    }

    #[test]
    fn empty_tag() {
        assert_eq!(validate_tag(""), Err(TagError::Empty));
    }

    #[test]
    fn too_long_tag_gives_length_and_limit() {
        let err = validate_tag(&"a".repeat(129)).unwrap_err();
        assert_eq!(err, TagError::TooLong { len: 129 });
        let msg = err.to_string();
        assert!(msg.contains("129") && msg.contains("128"), "{msg}");
    }

    #[test]
    fn leading_dot_or_dash() {
        assert_eq!(
            validate_tag(".hidden"),
            Err(TagError::BadStart { first: '.' })
        );
        assert_eq!(validate_tag("-wip"), Err(TagError::BadStart { first: '-' }));
        assert!(
            validate_tag("-wip")
                .unwrap_err()
                .to_string()
                .contains("remove the leading '-'")
        );
    }

    #[test]
    fn invalid_character_is_named_with_position() {
        assert_eq!(
            validate_tag("feature/x"),
            Err(TagError::InvalidChar {
                ch: '/',
                position: 8
            })
        );
        assert_eq!(
            validate_tag("/x"),
            Err(TagError::InvalidChar {
                ch: '/',
                position: 1
            })
        );
        assert_eq!(
            validate_tag("a b"),
            Err(TagError::InvalidChar {
                ch: ' ',
                position: 2
            })
        );
        // Positions count characters, not bytes.
        assert_eq!(
            validate_tag("äx+"),
            Err(TagError::InvalidChar {
                ch: 'ä',
                position: 1
            })
        );
        assert_eq!(
            validate_tag("xä"),
            Err(TagError::InvalidChar {
                ch: 'ä',
                position: 2
            })
        );
        let msg = validate_tag("v1:2").unwrap_err().to_string();
        assert!(msg.contains("':'") && msg.contains("position 3"), "{msg}");
    }

    #[test]
    fn character_errors_come_before_length() {
        let tag = format!("{}/", "a".repeat(200));
        assert_eq!(
            validate_tag(&tag),
            Err(TagError::InvalidChar {
                ch: '/',
                position: 201
            })
        );
    }

    #[test]
    fn monorepo_tags() {
        assert_eq!(
            monorepo_tag("backend", "v1.2.3").as_deref(),
            Ok("backend-v1.2.3")
        );
        assert_eq!(monorepo_tag("backend", "_x").as_deref(), Ok("backend-_x"));
        // The combined string may be at most 128 characters.
        let tag = "a".repeat(128 - "backend-".len());
        assert!(monorepo_tag("backend", &tag).is_ok());
        let err = monorepo_tag("backend", &format!("{tag}a")).unwrap_err();
        assert!(
            matches!(err, TagError::MonorepoTooLong { len: 129, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("shorten the image name or the tag")
        );
        // The tag part must be valid on its own.
        assert_eq!(
            monorepo_tag("backend", "-x"),
            Err(TagError::BadStart { first: '-' })
        );
        assert_eq!(monorepo_tag("backend", ""), Err(TagError::Empty));
        assert!(monorepo_tag("backend", &"a".repeat(129)).is_err());
        // A '/' in the image name cannot be part of a tag.
        assert_eq!(
            monorepo_tag("a/b", "v1"),
            Err(TagError::InvalidChar {
                ch: '/',
                position: 2
            })
        );
    }

    #[test]
    fn image_names() {
        for name in [
            "backend",
            "a",
            "web-app",
            "web--app",
            "my_app",
            "my__app",
            "a.b",
            "team/backend",
            "a/b/c",
            "0",
        ] {
            assert_eq!(validate_image_name(name), Ok(()), "{name}");
        }
        assert_eq!(validate_image_name(""), Err(ImageNameError::Empty));
        assert_eq!(
            validate_image_name("Backend"),
            Err(ImageNameError::Uppercase {
                suggestion: "backend".into()
            })
        );
        assert_eq!(
            validate_image_name("Team/Backend"),
            Err(ImageNameError::Uppercase {
                suggestion: "team/backend".into()
            })
        );
        assert_eq!(
            validate_image_name("a//b"),
            Err(ImageNameError::EmptyComponent)
        );
        assert_eq!(
            validate_image_name("/a"),
            Err(ImageNameError::EmptyComponent)
        );
        assert_eq!(
            validate_image_name("a/"),
            Err(ImageNameError::EmptyComponent)
        );
        for bad in ["-a", "a-", "a..b", "a___b", "_a", "a.", "a b", "a:b", "ä"] {
            assert!(
                matches!(
                    validate_image_name(bad),
                    Err(ImageNameError::InvalidComponent { .. })
                ),
                "{bad}: {:?}",
                validate_image_name(bad)
            );
        }
        let msg = validate_image_name("Backend").unwrap_err().to_string();
        assert!(
            msg.contains("lowercase") && msg.contains("\"backend\""),
            "{msg}"
        );
    }

    #[test]
    fn tag_prefix_fitness() {
        assert!(image_name_fits_tag_prefix("backend"));
        assert!(image_name_fits_tag_prefix("my_app.v2"));
        assert!(!image_name_fits_tag_prefix("team/backend"));
        assert!(!image_name_fits_tag_prefix("Backend"));
        assert!(!image_name_fits_tag_prefix(""));
        assert!(image_name_fits_tag_prefix(&"a".repeat(126)));
        assert!(!image_name_fits_tag_prefix(&"a".repeat(127)));
    }
}
