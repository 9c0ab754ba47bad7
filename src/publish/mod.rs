//! Publishing built images: where they come from (`source`, `image`) and how they are copied (`copy`).

pub mod copy;
pub mod fanout;
pub mod image;
pub mod report;
pub mod source;
