//! Names: references, tags, the werf slug, and where each image goes (layout). All pure.

pub mod layout;
pub mod path;
pub mod reference;
pub mod semver;
pub mod slug;
pub mod strategy;
pub mod tag;
pub mod tags_from;

use crate::error::Error;

impl From<reference::ReferenceError> for Error {
    fn from(e: reference::ReferenceError) -> Error {
        Error::input(e.to_string())
    }
}

impl From<tag::TagError> for Error {
    fn from(e: tag::TagError) -> Error {
        Error::input(e.to_string())
    }
}

impl From<tag::ImageNameError> for Error {
    fn from(e: tag::ImageNameError) -> Error {
        Error::input(e.to_string())
    }
}

impl From<tags_from::TagsFromError> for Error {
    fn from(e: tags_from::TagsFromError) -> Error {
        Error::input(e.to_string())
    }
}
