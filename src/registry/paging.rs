//! Bounds for every paged listing: tag lists, vendor listing APIs and forge ref lists.
//!
//! A server decides how many pages there are and where the next one is (`Link: <…>; rel="next"`
//! in the OCI Distribution spec's tag listing, a `next` URL, a page number or a cursor in vendor
//! APIs). A broken or hostile server could send us in circles or on forever, so each listing
//! walks its pages through a [`Pages`]: a page address seen before is an error naming it (a
//! cycle), and so is a listing longer than [`MAX_PAGES`] pages.

use std::collections::HashSet;

use crate::error::{Classify, Error, Kind, Result};

/// Why a paged listing was stopped.
#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    /// The server sent a page address already read.
    #[error("{what} loops: the server sent us back to {page}, a page already read")]
    Loop { what: String, page: String },
    /// More pages than the bound.
    #[error("{what} did not end after {max} pages (the next would have been {next})")]
    TooLong {
        what: String,
        max: usize,
        next: String,
    },
}

impl Classify for PagingError {
    fn kind(&self) -> Kind {
        Kind::Operation
    }
    fn hint(&self) -> Option<String> {
        match self {
            PagingError::Loop { .. } => {
                Some("the registry's paging is broken; report it to its operator".into())
            }
            PagingError::TooLong { .. } => None,
        }
    }
}

/// Most pages one listing may take. Generous: at the OCI default of 100 tags per page that is a
/// million tags, and registries that page by 1,000 or 10,000 (docker-registry serves everything
/// in one page unless asked for `n`) reach far more.
pub const MAX_PAGES: usize = 10_000;

/// The pages of one listing walked so far.
#[derive(Debug)]
pub struct Pages {
    what: String,
    seen: HashSet<String>,
    max: usize,
}

impl Pages {
    /// A walk of the listing described by `what` (e.g. "the tag list of r.example/app"), bounded
    /// by [`MAX_PAGES`].
    pub fn new(what: impl Into<String>) -> Pages {
        Pages::with_limit(what, MAX_PAGES)
    }

    pub fn with_limit(what: impl Into<String>, max: usize) -> Pages {
        Pages {
            what: what.into(),
            seen: HashSet::new(),
            max,
        }
    }

    /// Records a page about to be requested, by URL; messages show it redacted.
    pub fn visit_url(&mut self, url: &url::Url) -> Result<()> {
        self.visit_as(url.as_str(), || crate::secret::redact_url(url))
    }

    /// Records a page about to be requested; `page` is its address as the user may read it (a
    /// page number, a cursor). An address seen before, or one page past the bound, is an error.
    pub fn visit(&mut self, page: &str) -> Result<()> {
        self.visit_as(page, || page.to_string())
    }

    /// [`Pages::visit`] keyed by `key`, named in messages by `shown`.
    fn visit_as(&mut self, key: &str, shown: impl Fn() -> String) -> Result<()> {
        if self.seen.contains(key) {
            return Err(Error::from_layer(PagingError::Loop {
                what: self.what.clone(),
                page: shown(),
            }));
        }
        if self.seen.len() >= self.max {
            return Err(Error::from_layer(PagingError::TooLong {
                what: self.what.clone(),
                max: self.max,
                next: shown(),
            }));
        }
        self.seen.insert(key.to_string());
        Ok(())
    }

    /// Pages visited so far.
    pub fn count(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_seen_before_is_a_cycle_naming_it() {
        let mut p = Pages::new("the tag list of r/a");
        p.visit("http://r/v2/a/tags/list?n=2").unwrap();
        p.visit("http://r/v2/a/tags/list?last=b&n=2").unwrap();
        let e = p.visit("http://r/v2/a/tags/list?n=2").unwrap_err();
        assert!(e.message.contains("loops"), "{}", e.message);
        assert!(
            e.message.contains("http://r/v2/a/tags/list?n=2"),
            "{}",
            e.message
        );
        assert_eq!(p.count(), 2);
    }

    #[test]
    fn urls_are_told_apart_by_their_full_query_but_shown_redacted() {
        let mut p = Pages::new("x");
        let u = |q: &str| url::Url::parse(&format!("https://r/list?page={q}&sig=s3cr3t")).unwrap();
        p.visit_url(&u("1")).unwrap();
        p.visit_url(&u("2")).unwrap();
        let e = p.visit_url(&u("1")).unwrap_err();
        assert!(!e.message.contains("s3cr3t"), "{}", e.message);
    }

    /// The exact texts users read (pinned before the typed error replaced the format! calls).
    #[test]
    fn messages_are_pinned() {
        let mut p = Pages::with_limit("the tag list of r/a", 1);
        p.visit("1").unwrap();
        let e = p.visit("1").unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Operation);
        assert_eq!(
            e.to_string(),
            "the tag list of r/a loops: the server sent us back to 1, a page already read\n  \
             hint: the registry's paging is broken; report it to its operator"
        );
        assert!(matches!(
            e.layer::<PagingError>(),
            Some(PagingError::Loop { .. })
        ));
        let e = p.visit("2").unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Operation);
        assert_eq!(
            e.to_string(),
            "the tag list of r/a did not end after 1 pages (the next would have been 2)"
        );
    }

    #[test]
    fn the_page_count_is_bounded() {
        let mut p = Pages::with_limit("x", 3);
        for i in 0..3 {
            p.visit(&i.to_string()).unwrap();
        }
        let e = p.visit("3").unwrap_err();
        assert!(e.message.contains("after 3 pages"), "{}", e.message);
    }
}
