//! Names: references, tags, the werf slug, and where each image goes (layout). All pure.

pub mod layout;
pub mod reference;
pub mod slug;
pub mod tag;

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
